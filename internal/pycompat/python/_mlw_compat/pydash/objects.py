# mlw's compatibility module for pydash.objects (see __init__.py).
"""get, omit and set_ with pydash's path semantics ("a.b.0.c" or a list of keys)."""

import copy

_MISSING = object()


def _keys(path):
    if isinstance(path, (list, tuple)):
        return list(path)
    if path is None or path == "":
        return []
    if isinstance(path, int):
        return [path]
    return str(path).split(".")


def _step(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        if isinstance(key, str) and key.lstrip("-").isdigit() and int(key) in obj:
            return obj[int(key)]
        return _MISSING
    if isinstance(obj, (list, tuple)):
        try:
            return obj[int(key)]
        except (ValueError, IndexError, TypeError):
            return _MISSING
    if isinstance(key, str) and hasattr(obj, key):
        return getattr(obj, key)
    return _MISSING


def get(obj, path, default=None):
    """Return the value at path in obj, or default."""
    cur = obj
    for key in _keys(path):
        cur = _step(cur, key)
        if cur is _MISSING:
            return default
    return cur


def omit(obj, *paths):
    """Return a copy of a dict without the given keys (top-level or dotted)."""
    flat = []
    for p in paths:
        if isinstance(p, (list, tuple)):
            flat.extend(p)
        else:
            flat.append(p)
    out = copy.deepcopy(obj) if isinstance(obj, dict) else dict(obj or {})
    for p in flat:
        keys = _keys(p)
        if not keys:
            continue
        parent = get(out, keys[:-1]) if len(keys) > 1 else out
        if isinstance(parent, dict):
            parent.pop(keys[-1], None)
    return out


def set_(obj, path, value):
    """Set value at path in obj, creating dicts (or lists for numeric keys)."""
    keys = _keys(path)
    if not keys:
        return obj
    cur = obj
    for i, key in enumerate(keys[:-1]):
        nxt = _step(cur, key)
        if nxt is _MISSING or nxt is None:
            nxt = [] if str(keys[i + 1]).isdigit() else {}
            if isinstance(cur, list):
                idx = int(key)
                while len(cur) <= idx:
                    cur.append(None)
                cur[idx] = nxt
            elif isinstance(cur, dict):
                cur[key] = nxt
            else:
                setattr(cur, key, nxt)
        cur = nxt
    last = keys[-1]
    if isinstance(cur, list):
        idx = int(last)
        while len(cur) <= idx:
            cur.append(None)
        cur[idx] = value
    elif isinstance(cur, dict):
        cur[last] = value
    else:
        setattr(cur, last, value)
    return obj
