"""The seed's `noether.core.utils` paths, kept so that code ported from the seed imports."""
