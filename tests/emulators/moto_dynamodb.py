"""Serve moto's DynamoDB on loopback, SINGLE-THREADED.

moto's own server is threaded, and concurrent UpdateItem ADDs on one item lose
updates there; serving requests one at a time keeps them exact.

Usage: python moto_dynamodb.py [PORT]   (default: $VOW_DYNAMODB_PORT or 4569)
"""
import os
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VOW_DYNAMODB_PORT", "4569"))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, processes=1)
