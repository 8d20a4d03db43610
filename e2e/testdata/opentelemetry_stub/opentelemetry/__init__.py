# TEST-ONLY STAND-IN for the PyPI package "opentelemetry-api".
#
# azure-ai-ml 1.28 (Debian 13's python3-azure) imports opentelemetry.trace
# at import time (azure/ai/ml/_utils/_logger_utils.py), and no Debian
# release packages the OpenTelemetry API; CI cannot reach PyPI. The SDK
# only asks trace.get_tracer(name) for a tracer and opens spans with
# tracer.start_as_current_span(name) around its public calls, which this
# module provides as no-ops for mlw's end-to-end tests. It has no SDK
# (opentelemetry.sdk), so azure-ai-ml's Azure Monitor telemetry, which a
# notebook would set up, fails to import and is skipped, as the SDK
# intends offline. Users install the real package: pip install opentelemetry-api.
"""Minimal test-only stand-in for the OpenTelemetry API: opentelemetry.trace."""

__version__ = "0.0.0+mlw-test-stub"
