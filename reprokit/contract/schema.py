"""JSON Schemas of the two file kinds (environment, case), as users write them, for editors."""
from __future__ import annotations

from reprokit.contract.models import Case, Step, environment_model

SOURCE = {"type": "object", "properties": {"source": {"type": "string"}}, "required": ["source"],
          "additionalProperties": False, "description": "a file, relative to the file that declares it"}


def environment_schema() -> dict:
    schema = environment_model().model_json_schema()
    props = schema["properties"]
    for internal in ("name", "source"):
        props.pop(internal, None)
    schema["required"] = []  # `os` may come from the parent named in `extends`
    props["extends"] = {"type": "string", "description": "name of an environment to inherit from"}
    props["remove"] = {"type": "array", "items": {"type": "string"},
                       "description": "inherited entries to drop: 'field' or 'field.key' (env.X, python_packages.NAME)"}
    from reprokit.aspects.registry import spec_fields

    for name, spec_field in spec_fields().items():  # fields whose values may name a file
        if spec_field.sources is True and name in props:
            props[name]["additionalProperties"] = {"anyOf": [{"type": "string"}, SOURCE]}
    props["env"]["additionalProperties"] = {"type": ["string", "number"]}
    schema["title"] = "reprokit environment (environments/<name>.yaml)"
    return schema


def case_schema() -> dict:
    schema = Case.model_json_schema()
    props = schema["properties"]
    props.pop("folder", None)
    environment = {"anyOf": [{"type": "string", "description": "a name from environments/"},
                             {"$ref": "#/$defs/Environment"}]}
    props["environment"] = environment
    props["baseline"] = {**environment, "default": "baseline"}
    props["files"]["additionalProperties"] = {"anyOf": [{"type": "string"}, SOURCE]}
    props["steps"]["items"] = {"anyOf": [{"type": "string"}, Step.model_json_schema()]}
    schema["required"] = [r for r in schema.get("required", []) if r != "baseline"]
    defs = schema.setdefault("$defs", {})
    defs.pop("EnvironmentSpec", None)
    defs.pop("EnvironmentBase", None)
    env = environment_schema()
    defs.update(env.pop("$defs", {}))
    defs["Environment"] = env
    schema["title"] = "reprokit case (cases/<ID>/case.yaml)"
    return schema


def file_schemas() -> dict[str, dict]:
    return {"environment": environment_schema(), "case": case_schema()}
