"""Station adapters: read, subscribe and (armed only) write setpoints, over sim, OPC UA, MQTT, REST, replay."""

from data_adapters.base import (  # noqa: F401
    Adapter,
    ArmedSession,
    Backend,
    BackendError,
    Quality,
    Reading,
    Subscription,
    WriteRefused,
    WriteResult,
)
