"""Zero-shot labels: softmax over the model's scaled similarities to label prompts."""

from __future__ import annotations

import numpy as np

from mmsearch.api.schemas.queries import ClassifyRequest, ClassifyResponse, LabelScore
from mmsearch.api.services.collections import load_encoder
from mmsearch.api.services.query import Uploads, embed_image
from mmsearch.encoders import EncoderLoader
from mmsearch.encoders.zero_shot import label_matrix, label_probabilities
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import VectorStore


def classify(
    vectors: VectorStore,
    load: EncoderLoader,
    objects: ObjectStore,
    settings: Settings,
    body: ClassifyRequest,
    uploads: Uploads,
    tenant: str | None = None,
) -> ClassifyResponse:
    """Probabilities of each label for one image (a reference within the sources of `tenant`),
    most likely first."""
    if body.collection is not None:
        model = vectors.spec(body.collection).model
    else:
        model = body.model or settings.default_model
    encoder = load_encoder(vectors, load, settings.allowed_models, model)
    image = embed_image(objects, settings, encoder, body.image, uploads, tenant)
    labels = label_matrix(encoder, body.labels, body.prompt_template)
    probs = label_probabilities(encoder, image[np.newaxis, :], labels)[0]
    order = np.argsort(-probs, kind="stable")
    return ClassifyResponse(
        model=encoder.name,
        labels=[LabelScore(label=body.labels[i], probability=float(probs[i])) for i in order],
    )
