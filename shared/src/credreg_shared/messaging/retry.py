"""How a consumer retries a failing handler: bounded exponential backoff, then dead letter."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and delays for a failing handler.

    `retry_forever_on` lists exceptions that mean "our own infrastructure is down" (for example
    ``pymongo.errors.ConnectionFailure``): those are retried without bound, because dead-lettering
    an event only because the database was briefly away would lose it from the service's view.
    """

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    retry_forever_on: tuple[type[Exception], ...] = ()

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be non-negative and the multiplier at least 1")

    def should_retry(self, error: Exception, attempts: int) -> bool:
        """Whether to try again after `attempts` failed attempts ending with `error`."""
        return attempts < self.max_attempts or isinstance(error, self.retry_forever_on)

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1-based)."""
        return min(self.max_delay, self.initial_delay * self.multiplier ** (attempts - 1))
