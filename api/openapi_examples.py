"""An example for every request and response schema of the API (checked against the schemas),
and named examples of the ways to search."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mmsearch.api.schemas import points as p
from mmsearch.api.schemas import queries as q
from mmsearch.api.schemas import ranking as kw
from mmsearch.api.schemas import resources as s
from mmsearch.api.schemas import sources as src

_INDEX = {
    "m": 32,
    "ef_construct": 256,
    "hnsw_ef": 512,
    "quantization": "int8",
    "indexing_threshold": 10000,
}
_KEYWORD = {"language": "english", "avg_len": 16.0, "fields": ["text"], "ready": True}
_COLLECTION = {
    "name": "photos",
    "version": "photos--v1",
    "active": True,
    "model": "ViT-B-32/laion2b_s34b_b79k",
    "dim": 512,
    "count": 12873,
    "payload_schema": {"album": "keyword", "year": "integer"},
    "index": _INDEX,
    "random_weights": False,
    "keyword": _KEYWORD,
}
_JOB_ID = "9f1c2e7a4b6d4e0f8a3b5c7d9e1f2a3b"
_HIT = {
    "id": "beach-001",
    "uri": "s3://photos/2024/beach-001.jpg",
    "score": 0.3127,
    "metadata": {"album": "summer", "year": 2024},
    "text": "a dog running on a beach",
}
_POINT = {
    "id": "beach-001",
    "uri": "s3://photos/2024/beach-001.jpg",
    "metadata": {"album": "summer", "year": 2024},
    "text": "a dog running on a beach",
    "tenant": None,
    "vectors": {"image": [0.6, 0.8], "text": [0.8, -0.6]},  # 512 numbers each for this model
}

_JOB = {
    "job_id": _JOB_ID,
    "collection": "photos",
    "status": "completed_with_errors",
    "total": 1000,
    "succeeded": 998,
    "failed": 2,
    "skipped": 0,
    "pending": 0,
    "listing": False,
    "message": None,
    "errors": [
        {
            "uri": "s3://photos/2024/broken.jpg",
            "id": "broken",
            "code": "corrupt_image",
            "message": "image data is truncated or corrupt",
        }
    ],
    "error_count": 2,
    "retries": 0,
    "processing": {"loaded": 0, "embedded": 0},
    "items_per_second": 14.3,
    "created_at": "2026-11-23T10:00:00+00:00",
    "updated_at": "2026-11-23T10:01:12+00:00",
}

_SOURCE = {
    "source_id": "src_5f0c9d2e7a1b4c3d",
    "collection": "photos",
    "uri": "s3://photos/2024/",
    "include": ["*.jpg", "*.heic"],
    "exclude": ["drafts/"],
    "metadata": {"album": "2024"},
    "interval_s": 3600,
    "captions": None,
    "id_prefix": "",
    "options": {},
    "created_at": "2026-11-23T09:00:00+00:00",
    "syncing": False,
    "last_sync": {
        "job_id": _JOB_ID,
        "status": "succeeded",
        "started_at": "2026-11-23T10:00:00+00:00",
        "dry_run": False,
        "added": 5,
        "updated": 2,
        "removed": 3,
        "unchanged": 15,
        "failed": 0,
        "pending": 0,
    },
    "next_sync_at": "2026-11-23T11:00:00+00:00",
}

EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    s.CollectionCreate: {
        "name": "photos",
        "model": "ViT-B-32/laion2b_s34b_b79k",
        "payload_schema": {"album": "keyword", "year": "integer"},
    },
    s.CollectionPublic: _COLLECTION,
    s.CollectionsPublic: {"data": [_COLLECTION], "count": 1},
    s.ReembedRequest: {"model": "ViT-L-14/datacomp_xl_s13b_b90k"},
    kw.KeywordSettings: {"language": "english"},
    kw.KeywordPublic: _KEYWORD,
    kw.HybridWeights: {"image": 1.0, "text": 0.5, "keyword": 2.0},
    kw.RerankSpec: {"model": "itm:Salesforce/blip-itm-base-coco", "top_k": 50},
    kw.RerankDefault: {"model": "itm:Salesforce/blip-itm-base-coco", "top_k": 50},
    s.IngestRequest: {
        "items": [
            {
                "uri": "s3://photos/2024/beach-001.jpg",
                "id": "beach-001",
                "metadata": {"album": "summer", "year": 2024},
                "text": "a dog running on a beach",
            }
        ],
        "metadata": {"source": "phone"},
    },
    s.JobAccepted: {"job_id": _JOB_ID, "status": "queued", "total": 1},
    s.JobPublic: _JOB,
    s.RetryRequest: {"codes": ["fetch_failed", "not_found"]},
    s.JobsPublic: {"data": [_JOB], "count": 1},
    s.RetryAccepted: {"job_id": _JOB_ID, "status": "running", "requeued": 2, "attempt": 1},
    q.SearchResponse: {"results": [_HIT], "took_ms": 18.4},
    q.FanoutSearchRequest: {"text": "a dog on a beach", "collections": ["photos", "archive"]},
    q.ClassifyRequest: {
        "collection": "photos",
        "image": {"uri": "s3://photos/2024/beach-001.jpg"},
        "labels": ["dog", "cat", "bird"],
    },
    q.ClassifyResponse: {
        "model": "ViT-B-32/laion2b_s34b_b79k",
        "labels": [
            {"label": "dog", "probability": 0.94},
            {"label": "cat", "probability": 0.05},
            {"label": "bird", "probability": 0.01},
        ],
    },
    q.ItemPublic: {
        "id": "beach-001",
        "uri": "s3://photos/2024/beach-001.jpg",
        "metadata": {"album": "summer", "year": 2024},
        "text": "a dog running on a beach",
        "vectors": ["image", "text"],
    },
    q.ItemPatch: {"metadata": {"album": "holidays"}},
    q.MediaLinkRequest: {"id": "lake.mp4"},
    q.MediaLink: {
        "url": "/v1/collections/photos/media/lake.mp4?expires=1767225600&sig=9f2c...",
        "expires_at": 1767225600,
    },
    q.ItemsDelete: {"filter": {"must": [{"key": "album", "match": {"value": "drafts"}}]}},
    q.Deleted: {"deleted": 12},
    q.DuplicatesRequest: {"threshold": 0.97},
    q.DuplicatesResponse: {
        "groups": [
            {
                "items": [
                    {"id": "beach-001", "uri": "s3://photos/2024/beach-001.jpg", "score": 0.99},
                    {"id": "beach-001b", "uri": "s3://photos/2024/beach-001b.jpg", "score": 0.99},
                ]
            }
        ],
        "scanned": 12873,
    },
    p.PointsPage: {"data": [_POINT], "next": "0b6f3c1e-2d4a-5e8f-9a1b-3c5d7e9f1a2b"},
    p.PointsUpsert: {"points": [{k: v for k, v in _POINT.items() if k != "tenant"}]},
    p.PointsWritten: {"upserted": 1},
    src.SourceCreate: {
        "uri": "s3://photos/2024/",
        "include": ["*.jpg", "*.heic"],
        "exclude": ["drafts/"],
        "metadata": {"album": "2024"},
        "interval_s": 3600,
    },
    src.SourcePublic: _SOURCE,
    src.SourcesPublic: {"data": [_SOURCE], "count": 1},
    src.SyncRequest: {"dry_run": False},
    src.SourceDeleted: {"source_id": "src_5f0c9d2e7a1b4c3d", "deleted": True, "purged": 20},
}

COLLECTION_DELETED = {"name": "photos", "deleted": True, "versions": ["photos--v1"]}

SEARCH_EXAMPLES: dict[str, dict[str, Any]] = {
    "text": {"value": {"text": "a dog running on a beach", "limit": 10}},
    "text_filtered": {
        "value": {
            "text": "a red dress",
            "filter": {"must": [{"key": "album", "match": {"value": "summer"}}]},
        }
    },
    "image_uri": {"value": {"image": {"uri": "s3://photos/beach.jpg"}}},
    "image_base64": {"value": {"image": {"base64": "<base64 JPEG bytes>"}}},
    "stored_item": {"value": {"item_id": "beach-001"}},
    "multimodal": {
        "value": {
            "query": [
                {"text": "red dress", "weight": 1.0},
                {"image": {"uri": "s3://photos/model.jpg"}, "weight": 0.7},
                {"text": "blurry", "weight": -0.5},
            ]
        }
    },
    "captions": {"value": {"text": "two people hiking", "mode": "text"}},
    "hybrid": {"value": {"text": "two people hiking", "mode": "hybrid"}},
    "keyword": {"value": {"text": "dalmatian", "mode": "keyword"}},
    "reranked": {
        "value": {
            "text": "a man riding a horse",
            "rerank": {"model": "itm:Salesforce/blip-itm-base-coco", "top_k": 50},
        }
    },
    "hybrid_weighted": {
        "value": {
            "text": "a dalmatian in the snow",
            "mode": "hybrid",
            "weights": {"image": 1.0, "text": 0.5, "keyword": 2.0},
        }
    },
    "recommend": {"value": {"recommend": {"positive": ["a", "b"], "negative": ["c"]}}},
    "grouped": {"value": {"text": "sunset", "group_by": "album", "group_size": 1, "limit": 5}},
}
