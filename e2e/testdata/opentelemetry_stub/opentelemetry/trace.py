# TEST-ONLY STAND-IN for opentelemetry.trace (see __init__.py): a tracer
# whose spans record nothing, like the real API's no-op tracer when no
# OpenTelemetry SDK is configured.
"""No-op opentelemetry.trace: get_tracer, get_current_span, NonRecordingSpan."""

import contextlib

__all__ = ["NonRecordingSpan", "Tracer", "get_current_span", "get_tracer"]


class NonRecordingSpan:
    """A span that records nothing."""

    def is_recording(self):
        return False

    def set_attribute(self, key, value):
        pass

    def set_attributes(self, attributes):
        pass

    def add_event(self, name, attributes=None, timestamp=None):
        pass

    def record_exception(self, exception, attributes=None, timestamp=None, escaped=False):
        pass

    def set_status(self, status, description=None):
        pass

    def update_name(self, name):
        pass

    def end(self, end_time=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_SPAN = NonRecordingSpan()


class Tracer:
    """A tracer whose spans record nothing."""

    def start_span(self, name, *args, **kwargs):
        return _SPAN

    @contextlib.contextmanager
    def start_as_current_span(self, name, *args, **kwargs):
        yield _SPAN


def get_tracer(instrumenting_module_name, *args, **kwargs):
    return Tracer()


def get_current_span(context=None):
    return _SPAN
