"""The seed's `noether.core.utils.common` paths (see `noether.core.utils`)."""
