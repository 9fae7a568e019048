"""Zero-shot labels: softmax over the model's scaled similarities to label prompts."""

from __future__ import annotations

import numpy as np

from mmsearch.api.schemas.queries import ClassifyRequest, ClassifyResponse, LabelScore
from mmsearch.api.services.collections import load_encoder
from mmsearch.api.services.query import Uploads, embed_image
from mmsearch.encoders.zero_shot import label_matrix, label_probabilities
from mmsearch.infra.runtime import Runtime


def classify(runtime: Runtime, body: ClassifyRequest, uploads: Uploads) -> ClassifyResponse:
    """Probabilities of each label for one image, most likely first."""
    if body.collection is not None:
        model = runtime.vectors.spec(body.collection).model
    else:
        model = body.model or runtime.settings.default_model
    encoder = load_encoder(runtime, model)
    image = embed_image(runtime, encoder, body.image, uploads)
    labels = label_matrix(encoder, body.labels, body.prompt_template)
    probs = label_probabilities(encoder, image[np.newaxis, :], labels)[0]
    order = np.argsort(-probs, kind="stable")
    return ClassifyResponse(
        model=encoder.name,
        labels=[LabelScore(label=body.labels[i], probability=float(probs[i])) for i in order],
    )
