"""The collector a customer runs (stdlib only, Python 3.6+) and its POSIX sh fallback, shipped as package data."""
