"""Schema-driven fuzzing of the API (moved from tests/unit: its hundreds of requests cost 3 s of CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from handful.serve import create_app
from handful.serve.app import find_models
from tests.unit.test_serve_inputs import LIMITS, root  # noqa: F401, F811  (root: the served models, a fixture)


def test_schema_driven_fuzzing_finds_no_server_error(root: Path) -> None:  # noqa: F811
    """Schemathesis requests built from /openapi.json (valid and invalid ones) get a documented 2xx/4xx, never 5xx.

    Each operation is fuzzed with generated model names and with each served model's name (so bodies reach the
    image, text and audio decoders), in both schemathesis modes; bounded so the whole run takes seconds.
    """
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(find_models(root), LIMITS))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/models/{name}:predict", "GET /v1/models/{name}"}
    for operation in operations:
        names = [None, "photos", "reviews", "clips"] if "{name}" in operation.path else [None]
        for name in names:
            # Negative cases need a body to make invalid (any string is a valid name to the schema).
            for mode in list(schemathesis.GenerationMode)[: 2 if operation.method.lower() == "post" else 1]:
                fixed = {"name": name} if name else None

                @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
                @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
                def fuzz(case: schemathesis.Case) -> None:
                    response = case.call()
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    case.validate_response(response, checks=checks)

                fuzz()
    print(f"fuzzing: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert not [code for code in statuses if code >= 500]
    assert statuses.get(200, 0) > 0  # some generated bodies were good enough to reach a model
