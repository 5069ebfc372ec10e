"""pyledger: an envhost adapter written in Python, built with componentize-py.

Like the Rust example in examples/rust-adapter, each environment is a record:
a container that is created but never started, so it runs no process. The
host makes a fresh instance for every call, so nothing kept in Python memory
survives to the next call; the record in the engine is what lets get-status
return `not-found` for unknown ids and for destroyed environments.

The classes below implement the WIT exports of the world
`envhost:provider/adapter@0.2.0`. A failed call raises `Err` with a
`ProviderError_*` case, which reaches the host as a typed error.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import container, log
from wit_world.imports.types import (
    AdapterInfo,
    CreateRequest,
    EnvironmentState,
    ProviderError_InvalidRequest,
    ProviderError_NotFound,
    Status,
)

DEFAULT_IMAGE = "envhost/busybox:test"
NAMESPACE_LABEL = "pyledger.namespace"

# Set by `init`, which the host calls first in every fresh instance.
_options = {"image": DEFAULT_IMAGE}


def _container_name(environment_id: str) -> str:
    return f"envhost-{environment_id}"


def _ready(container_id: str, namespace) -> EnvironmentState:
    metadata = json.dumps({"recordId": container_id, "namespace": namespace})
    return EnvironmentState(status=Status.READY, reason=None, endpoints=[], metadata=metadata)


def _invalid(message: str) -> Err:
    return Err(ProviderError_InvalidRequest(message))


class Provider(exports.Provider):
    def init(self, options: str) -> None:
        text = options.strip() or "{}"
        try:
            parsed = json.loads(text)
        except ValueError as err:
            raise _invalid(f"invalid adapter options JSON: {err}")
        if not isinstance(parsed, dict):
            raise _invalid(f"adapter options must be a JSON object, got `{text}`")

        unknown = sorted(set(parsed) - {"image"})
        if unknown:
            raise _invalid(f"unknown adapter option `{unknown[0]}`, expected `image`")
        image = parsed.get("image", DEFAULT_IMAGE)
        if not isinstance(image, str) or not image.strip():
            raise _invalid(f"invalid adapter option `image`: `{image}` is not an image name")
        _options["image"] = image

    def metadata(self) -> AdapterInfo:
        return AdapterInfo(
            name="pyledger",
            version="0.1.0",
            custom_capabilities=json.dumps({"runsWorkloads": False, "language": "python"}),
        )

    def create(self, environment_id: str, request: CreateRequest) -> EnvironmentState:
        labels = []
        if request.namespace is not None:
            labels.append((NAMESPACE_LABEL, request.namespace))
        spec = container.ContainerSpec(
            image=_options["image"],
            command=None,
            entrypoint=None,
            env=[],
            labels=labels,
            mounts=[],
            ports=[],
            working_dir=None,
            nano_cpus=None,
            memory_bytes=None,
            network=None,
            extra_hosts=[],
            auto_remove=False,
            init=False,
            privileged=False,
            network_mode=None,
            cap_add=[],
            devices=[],
        )
        # The host names the container after the id and adopts an existing
        # one, so a retried create returns the same record.
        container_id = container.create(environment_id, spec)
        return _ready(container_id, request.namespace)

    def get_status(self, environment_id: str) -> EnvironmentState:
        # `inspect` raises `not-found` for an unknown or destroyed id, which
        # passes through unchanged.
        info = container.inspect(_container_name(environment_id))
        namespace = next((value for key, value in info.labels if key == NAMESPACE_LABEL), None)
        return _ready(info.id, namespace)

    def destroy(self, environment_id: str, reason) -> None:
        try:
            container.remove(_container_name(environment_id), True)
        except Err as err:
            # Already gone, or never made: destroy is idempotent.
            if isinstance(err.value, ProviderError_NotFound):
                return
            raise
        log.log(log.Level.INFO, f"removed record of `{environment_id}` (reason: {reason or 'none given'})")
