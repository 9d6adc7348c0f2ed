"""JSON Schema for the params and the configuration, without jsonschema.

:mod:`camservice.schema.compiler` compiles the subset of Draft 2020-12
camservice's own schemas use into closures, once; :mod:`camservice.schema.errors`
puts a violation into words. The running service never imports jsonschema
(with what it imports that nothing else does: about 2 MB); the tests check the compiled validators
against it, error for error.
"""
from camservice.schema.compiler import SchemaError, ValidationError, Validator, compile_schema
from camservice.schema.errors import describe, dotted

__all__ = ["SchemaError", "ValidationError", "Validator", "compile_schema", "describe", "dotted"]
