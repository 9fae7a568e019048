"""Zero-shot labels: softmax over the model's scaled similarities to label prompts."""

from __future__ import annotations

import numpy as np

from api.query import Uploads, embed_image
from api.query_schemas import ClassifyRequest, ClassifyResponse, LabelScore
from encoders import UnknownModel
from infra.errors import InvalidRequest
from infra.runtime import Runtime
from workers.enrich import label_matrix, label_probabilities


def classify(runtime: Runtime, body: ClassifyRequest, uploads: Uploads) -> ClassifyResponse:
    """Probabilities of each label for one image, most likely first."""
    if body.collection is not None:
        model = runtime.vectors.spec(body.collection).model
    else:
        model = body.model or runtime.settings.default_model
    try:
        encoder = runtime.encoder(model)
    except UnknownModel as exc:
        raise InvalidRequest(str(exc), code="unknown_model") from exc
    image = embed_image(runtime, encoder, body.image, uploads)
    labels = label_matrix(encoder, body.labels, body.prompt_template)
    probs = label_probabilities(encoder, image[np.newaxis, :], labels)[0]
    order = np.argsort(-probs, kind="stable")
    return ClassifyResponse(
        model=encoder.name,
        labels=[LabelScore(label=body.labels[i], probability=float(probs[i])) for i in order],
    )
