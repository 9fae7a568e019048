"""Support for tests and benchmarks: a standalone platform over HTTP, a local S3 server, photos.

Plain code with no test-runner dependency; the local S3 server needs the dev extra (moto).
"""
