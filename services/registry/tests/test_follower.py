"""The view's consumer takes the configured batch, and fetches enough to fill it."""

from credreg_registry.follower import view_consumer
from credreg_registry.settings import RegistrySettings
from credreg_registry.view_events import VIEW_MODELS
from credreg_shared.messaging.fakes import InMemoryPublisher
from credreg_shared.messaging.handlers import HandlerRegistry


def test_a_view_consumer_fetches_enough_of_each_partition_for_its_batch() -> None:
    settings = RegistrySettings()
    big = view_consumer(settings, "g", HandlerRegistry(), InMemoryPublisher(), max_records=2_000)
    small = view_consumer(settings, "g", HandlerRegistry(), InMemoryPublisher(), max_records=50)

    assert big._max_records == 2_000
    # 2 KiB of each partition per event: three partitions of ~4 KB events fill a whole batch in
    # one fetch round.
    assert big._consumer_config["max_partition_fetch_bytes"] == 2_000 * 2048
    assert small._consumer_config["max_partition_fetch_bytes"] == 1024 * 1024
    # Issued events are parsed with their credential as text (``view_events``).
    assert big._processor.models is VIEW_MODELS


def test_the_registry_applies_bigger_batches_than_the_consumers_default() -> None:
    settings = RegistrySettings()
    assert settings.view_batch == 1_200
    assert settings.rebuild_batch == 3_000
