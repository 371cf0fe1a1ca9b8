"""The models a config can name: each one's settings dataclass, help line and players, and where
its builder lives (imported only when a model is built).

Kept free of torch so that resolving and validating a config (`gankit config ring`) starts
instantly; the networks and builders are in `gankit/models/<name>.py`. A new model is a new
module there plus one `MODELS.declare` line (and its settings) here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .registries import MODELS
from .settings import list_setting, setting

# Names the settings offer; the modules that build networks map each to a layer or a function
# (tests/test_startup.py checks that both sides name the same ones).
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "silu")
OUTPUTS = ("linear", "tanh", "sigmoid")
INITIALISERS = ("default", "normal-0.02", "xavier")
NORMS = ("batch", "instance", "none")  # of the translation models
TEST_MODES = ("train", "eval")  # how a translation model's G runs when translating
OWN = "own"


@dataclass
class MLPSettings:
    latent_dim: int = setting(2, "size of the noise vector", min=1)
    latent: str = setting(
        "normal",
        "noise: normal, uniform [0,1) or uniform-symmetric [-1,1)",
        choices=("normal", "uniform", "uniform-symmetric"),
    )
    g_hidden: list[int] = list_setting([128, 128, 128], "G's hidden layer widths (empty: one linear layer)", min=1)
    g_activation: list[str] = list_setting(["relu"], "G's activation per hidden layer (one: all)", choices=ACTIVATIONS)
    g_output: str = setting("linear", "G's output activation", choices=OUTPUTS)
    d_hidden: list[int] = list_setting([128, 128, 128], "D's hidden layer widths", min=1)
    d_activation: list[str] = list_setting(
        ["leaky_relu"], "D's activation per hidden layer (one: all)", choices=ACTIVATIONS
    )
    d_features: str = setting(
        "raw", "what D sees: the raw sample, or only its [mean, std] (seed 000)", choices=("raw", "mean-std")
    )
    d_head: str = setting(
        "logit", "D's output: one logit, or seed 004's two-class softmax", choices=("logit", "softmax2")
    )
    d_mbstd: int = setting(
        0, "minibatch standard deviation before D's last layer, over groups of this many samples (0: off)", min=0
    )
    init: str = setting(
        "default",
        "weight initialisation: PyTorch's default, N(0, 0.02) as seed 004, or Glorot as seed 003",
        choices=INITIALISERS,
    )
    conditional: bool = setting(False, "class-conditional G and D (needs labelled data)")
    embed_dim: int = setting(10, "size of the label embedding of a conditional model", min=1)


@dataclass
class DCGANSettings:
    latent_dim: int = setting(100, "size of the N(0, 1) noise vector", min=1)
    g_width: int = setting(64, "channels of G's last hidden layer (doubling towards its input)", min=1)
    d_width: int = setting(64, "channels of D's first layer (doubling towards its output)", min=1)
    conditional: bool = setting(False, "class-conditional G and D (needs labelled data)")
    embed_dim: int = setting(10, "size of the label embedding (D sees it as that many constant planes)", min=1)
    d_norm: str = setting("auto", "D's normalisation: batch, layer, none, or auto (batch; layer when a gradient "
                          "penalty is on, since batch norm couples the samples the penalty treats one by one)",
                          choices=("auto", "batch", "layer", "none"))  # fmt: skip


@dataclass
class ResNetSettings:
    latent_dim: int = setting(128, "size of the N(0, 1) noise vector", min=1)
    g_width: int = setting(256, "channels (images) or units (vectors) of G's residual blocks", min=1)
    d_width: int = setting(128, "channels (images) or units (vectors) of D's residual blocks", min=1)
    blocks: int = setting(3, "residual blocks per network on vector data (images: set by the resolution)", min=1)
    conditional: bool = setting(False, "conditional batch norm in G and a projection D (needs labelled data)")
    attention: int = setting(0, "images: feature-map size with a self-attention block in G and D (0: none)", min=0)


@dataclass
class BigGANSettings:
    latent_dim: int = setting(128, "size of the N(0, 1) noise vector, split between G's first layer and its "
                              "up-blocks", min=1)  # fmt: skip
    g_width: int = setting(256, "channels of G's residual blocks", min=1)
    d_width: int = setting(128, "channels of D's residual blocks", min=1)
    conditional: bool = setting(True, "class-conditional (shared embedding in G, projection D; needs labelled "
                                "data)")  # fmt: skip
    shared_dim: int = setting(128, "size of the class embedding every G block's norms share", min=1)
    attention: int = setting(0, "feature-map size with a self-attention block in G and D (0: none)", min=0)
    ortho: float = setting(1e-4, "β of the orthogonal regularisation of G's weights (0: off)", min=0.0)


@dataclass
class ProGANSettings:
    latent_dim: int = setting(512, "size of the N(0, 1) noise vector (pixel-normalised before G's first layer)",
                              min=1)  # fmt: skip
    width: int = setting(512, "most channels of any layer", min=1)
    fmap_base: int = setting(8192, "channels at resolution r: min(width, fmap_base / r), as the paper", min=1)
    fade_images: int = setting(800_000, "real images shown while each new resolution fades in", min=0)
    stable_images: int = setting(800_000, "real images shown at each resolution once faded in (and at 4×4)",
                                 min=1)  # fmt: skip
    batch_sizes: list[int] = list_setting([], "batch size at 4, 8, 16… px (the last repeats; empty: "
                                          "data.batch_size throughout; none larger than it)", min=1)  # fmt: skip
    reset_optimizers: bool = setting(True, "start both optimisers afresh when a resolution is added")
    mbstd_group: int = setting(4, "D's minibatch standard deviation over groups of this many samples", min=1)


@dataclass
class OwnSettings:
    generator: str = setting("", "G's class or factory as module:qualname (e.g. my_networks:Generator) (required)")
    generator_kwargs: dict = field(default_factory=dict, metadata={"help": "keyword arguments G is built with"})
    discriminator: str = setting("", "D's class or factory as module:qualname (required)")
    discriminator_kwargs: dict = field(default_factory=dict, metadata={"help": "keyword arguments D is built with"})
    latent_dim: int = setting(2, "size of the noise vector G takes", min=1)
    latent: str = setting(
        "normal",
        "noise: normal, uniform [0,1) or uniform-symmetric [-1,1)",
        choices=("normal", "uniform", "uniform-symmetric"),
    )
    conditional: bool = setting(False, "G and D take class ids as a second argument (labelled data)")


@dataclass
class Pix2PixSettings:
    generator: str = setting("unet", "G: the U-Net (pix2pix) or the ResNet translator (CycleGAN's)",
                             choices=("unet", "resnet"))  # fmt: skip
    g_width: int = setting(64, "channels of G's first layer (doubling inwards, capped at 8×)", min=1)
    depth: int = setting(0, "U-Net: down-convolutions (0: down to 1×1, i.e. 8 at 256 px, 6 at 64 px)", min=0)
    blocks: int = setting(9, "ResNet translator: residual blocks (9 at 256 px, 6 at 128 px in CycleGAN)", min=1)
    dropout: float = setting(0.5, "dropout in G's innermost decoder blocks (U-Net) or residual blocks (ResNet)",
                             min=0.0, max=0.99)  # fmt: skip
    d_width: int = setting(64, "channels of D's first layer", min=1)
    d_layers: int = setting(3, "PatchGAN depth: 3 judges 70×70 patches (1: 16×16, 2: 34×34, 4: 142×142)", min=1)
    norm: str = setting("batch", "normalisation in G and D: batch (pix2pix), instance, none", choices=NORMS)
    l1_weight: float = setting(100.0, "λ of G's L1 term ‖G(a) − x‖₁ (0: adversarial loss alone)", min=0.0)
    gan_weight: float = setting(1.0, "weight of G's adversarial term (0: L1 alone, the paper's ablation)", min=0.0)
    test_mode: str = setting(
        "train", "how G runs when translating: train (dropout and batch statistics as in training, as the paper "
        "does) or eval (dropout off, running statistics)", choices=TEST_MODES)  # fmt: skip


@dataclass
class CycleGANSettings:
    g_width: int = setting(64, "channels of each G's first layer", min=1)
    blocks: int = setting(0, "residual blocks of each G (0: 9 at 256 px and above, 6 below, as the reference)",
                          min=0)  # fmt: skip
    d_width: int = setting(64, "channels of each D's first layer", min=1)
    d_layers: int = setting(3, "PatchGAN depth: 3 judges 70×70 patches (1: 16×16, 2: 34×34)", min=1)
    norm: str = setting("instance", "normalisation in G and D: instance (CycleGAN), batch, none", choices=NORMS)
    dropout: float = setting(0.0, "dropout in G's residual blocks (the reference: none)", min=0.0, max=0.99)
    cycle_weight: float = setting(10.0, "λ of the cycle-consistency loss ‖G_BA(G_AB(a)) − a‖₁ (and from B); 0: off",
                                  min=0.0)  # fmt: skip
    identity_weight: float = setting(
        0.5, "identity loss ‖G_AB(b) − b‖₁ (and for A), weighted by this × cycle_weight; 0: off", min=0.0)  # fmt: skip
    gan_weight: float = setting(
        2.0, "weight of G's adversarial terms; 2 with least-squares matches the reference's mean square, which "
        "gankit's least-squares G loss halves", min=0.0)  # fmt: skip
    pool_size: int = setting(50, "generated images remembered per D (half of each D batch comes from the pool "
                             "once it is full); 0: no pool", min=0)  # fmt: skip
    test_mode: str = setting("eval", "how G runs when translating: eval (dropout off) or train", choices=TEST_MODES)


@dataclass
class StarGANSettings:
    g_width: int = setting(64, "channels of G's first layer", min=1)
    blocks: int = setting(6, "residual blocks of G", min=1)
    norm: str = setting("instance", "normalisation in G: instance (StarGAN), batch, none", choices=NORMS)
    d_width: int = setting(64, "channels of D's first layer", min=1)
    d_layers: int = setting(0, "D's stride-2 convolutions (0: down to 2×2, i.e. 6 at 128 px, the reference)", min=0)
    cls_weight: float = setting(1.0, "λ_cls of the domain-classification losses", min=0.0)
    rec_weight: float = setting(10.0, "λ_rec of the reconstruction loss ‖G(G(x, c'), c) − x‖₁; 0: off", min=0.0)
    test_mode: str = setting("eval", "how G runs when translating: eval (running statistics) or train",
                             choices=TEST_MODES)  # fmt: skip


MODELS.declare(
    "mlp",
    "multilayer perceptrons (the seeds' toy networks and seed 003's MNIST GAN)",
    MLPSettings,
    item="gankit.models.mlp:build_mlp",
)
MODELS.declare(
    "dcgan",
    "all-convolutional DCGAN for 28–128 px, grey or colour",
    DCGANSettings,
    item="gankit.models.dcgan:build_dcgan",
)
MODELS.declare(
    "resnet",
    "SN-GAN's ResNet G and D (images or vectors); SAGAN with model.attention",
    ResNetSettings,
    item="gankit.models.resnet:build_resnet",
)
MODELS.declare(
    "biggan",
    "BigGAN: ResNet G with its noise split over the blocks and a shared class embedding in every "
    "conditional norm, projection D, self-attention, orthogonal init and regularisation",
    BigGANSettings,
    item="gankit.models.biggan:build_biggan",
)
MODELS.declare(
    "progan",
    "Progressive GAN: G and D grown from 4×4, each new resolution faded in; equalised learning rate, "
    "pixel norm, minibatch standard deviation",
    ProGANSettings,
    item="gankit.models.progan:build_progan",
)
MODELS.declare(
    OWN,
    "your own generator and discriminator, by importable name (gankit.train(generator=…))",
    OwnSettings,
    item="gankit.models.own:build_own",
)
MODELS.declare(
    "pix2pix",
    "Pix2Pix: paired image translation (U-Net or ResNet G, PatchGAN D on input+output)",
    Pix2PixSettings,
    players=("D", "G"),
    item="gankit.models.pix2pix:build_pix2pix",
)
MODELS.declare(
    "cyclegan",
    "CycleGAN: unpaired two-domain translation (two ResNet Gs, two PatchGAN Ds, cycle "
    "and identity losses, history pools)",
    CycleGANSettings,
    players=("G", "D"),
    item="gankit.models.cyclegan:build_cyclegan",
)
MODELS.declare(
    "stargan",
    "StarGAN: one G for many domains (label planes in), D with a patch critic and a "
    "domain classifier, WGAN-GP, reconstruction loss",
    StarGANSettings,
    players=("D", "G"),
    item="gankit.models.stargan:build_stargan",
)
