"""Reading items' media for a batch: fetch, decode and preprocess, on the fetch threads."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from mmsearch.encoders import Encoder
from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.jobs.store import ItemFailure
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.workers.items import IngestItem, item_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaLoader:
    """Loads items' images from the object store on `pool`, within the decode limits."""

    objects: ObjectStore
    pool: Executor
    max_pixels: int
    min_side: int

    def load(self, encoder: Encoder, item: IngestItem) -> Any:
        """Fetch, decode and preprocess one item; raise ItemError for this item alone."""
        data = self.objects.fetch(self.objects.parse(item.uri, tenant=item.tenant))
        image = decode_image(data, max_pixels=self.max_pixels, min_side=self.min_side)
        return encoder.preprocess(image)

    def load_all(
        self,
        encoder: Encoder,
        items: Sequence[IngestItem],
        on_loaded: Callable[[int], None] | None = None,
    ) -> tuple[list[tuple[IngestItem, Any]], list[ItemFailure]]:
        """Each item's model input, in order; the items that could not be loaded, as failures.
        `on_loaded` is told how many items are loaded (or refused) so far, after each."""

        def guarded(item: IngestItem) -> tuple[IngestItem, Any, ItemFailure | None]:
            try:
                return item, self.load(encoder, item), None
            except ItemError as exc:
                return item, None, item_failure(item, exc.code, exc.message)
            except Exception as exc:  # one bad item must not sink the batch
                log.exception("unexpected error loading %s", item.uri)
                code = ItemErrorCode.FETCH_FAILED
                return item, None, item_failure(item, code, type(exc).__name__)

        loaded, failures = [], []
        for item, tensor, failure in self.pool.map(guarded, items):
            if failure is None:
                loaded.append((item, tensor))
            else:
                failures.append(failure)
            if on_loaded is not None:
                on_loaded(len(loaded) + len(failures))
        return loaded, failures
