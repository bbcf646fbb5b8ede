"""The Start page's ideas, in the order a newcomer meets them: each a plain sentence and the page that shows it.

Free of Streamlit, so a unit test checks the order and that every idea names a page of the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from aelab.ui import navigation


@dataclass(frozen=True)
class Idea:
    title: str
    sentence: str
    page: navigation.PageSpec


IDEAS = (
    Idea(
        "The bottleneck",
        "An autoencoder squeezes each picture through a short list of numbers, its code (here a few dozen "
        "numbers for 784 pixels), and must rebuild the picture from that code alone; the map draws every "
        "test image's code as a point.",
        navigation.MAP,
    ),
    Idea(
        "Reconstruction",
        "The rebuilt picture, the reconstruction, keeps what the code had room for (the digit's shape) and loses "
        "the rest (fine strokes), so it is a little blurred.",
        navigation.RECONSTRUCT,
    ),
    Idea(
        "Sampling",
        "A VAE (variational autoencoder) is trained so that codes drawn at random from a bell curve, N(0, I), "
        "decode to new digits; a plain autoencoder never was, and draws smudges.",
        navigation.SAMPLE,
    ),
    Idea(
        "The posterior",
        "A VAE encodes a picture not to one code but to a cloud of them, its posterior: a mean and a spread per "
        "number; every code drawn from the cloud decodes to a slightly different version of the picture.",
        navigation.RECONSTRUCT,
    ),
    Idea(
        "KL and beta",
        "The KL divergence (in nats, a unit of information) measures how far each cloud is from the bell curve: "
        "what the code costs. Training weighs it by beta; a larger beta makes codes cheaper and blurrier and "
        "can make each number follow one factor of the picture, which Traverse shows one number at a time.",
        navigation.TRAVERSE,
    ),
    Idea(
        "Interpolation",
        "Walking in a straight line from one picture's code to another's and decoding each step shows whether "
        "the space between them holds real-looking pictures or empty space.",
        navigation.INTERPOLATE,
    ),
    Idea(
        "Denoising",
        "An autoencoder trained on noisy pictures to rebuild the clean ones, a denoising autoencoder, learns to "
        "drop the noise; one trained on clean pictures only may be thrown off by it.",
        navigation.DENOISE,
    ),
    Idea(
        "Anomalies",
        "A picture unlike the training data (a letter for a digit model) is rebuilt badly or lands far from the "
        "data's codes, so a score on both flags it, though not always: a letter shaped like a digit passes.",
        navigation.ANOMALY,
    ),
)
