"""Re-ID model toolkit: train, evaluate and export person re-ID embedders.

The recipe is the bag-of-tricks strong baseline (Luo et al., "Bag of Tricks and A Strong
Baseline for Deep Person Re-identification", CVPRW 2019) as FastReID reproduces it: PK
sampling, label-smoothed ID loss + batch-hard triplet (+ optional center loss), BNNeck,
last stride 1, warm-up then step learning rate, random erasing. Modules:

- `config`: the typed training configuration (YAML, strict).
- `datasets`: Market-1501 and ImageFolder-style layouts, augmentation, the torch Dataset.
- `sampler`: the P identities x K instances batch sampler.
- `models`: backbones (ResNet50, OSNet, EfficientNet-b0), pooling, BNNeck, reduction.
- `losses`, `schedule`: the losses and the warm-up + step learning rate.
- `engine`, `checkpoint`: the training loop, checkpoints and resume.
- `metrics`, `rerank`, `evaluate`: CMC/mAP/mINP, k-reciprocal re-ranking, query expansion.
- `export`: ONNX export for the service's `OnnxEmbedder`, verified, with a model card.
- `build_dataset`: a dataset of crops from the pipeline's own tracks of a video.
"""
