"""The one way this project opens an ML Metadata store.

  store = connection.open_store('work/credit_risk/metadata.sqlite')
  store = connection.open_store('grpc://localhost:8080')        # KFP's metadata service
  store = connection.open_store('mysql://user:pw@host:3306/mlmd')
  store = connection.open_store(path, writable=True)            # annotate a run

A SQLite path (or sqlite:///path) opens read-only unless `writable`; it must
exist, because MLMD would otherwise create an empty store at a mistyped path
and every question would find "nothing". gRPC and MySQL stores are opened as
they are: their server decides what a client may write.
"""

import os
from typing import Union
from urllib import parse

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

Config = Union[metadata_store_pb2.ConnectionConfig,
               metadata_store_pb2.MetadataStoreClientConfig]


class StoreNotFound(FileNotFoundError, LookupError):
  """No store at the target; the message names it and what to do.

  A FileNotFoundError for callers that ask about the file, a LookupError for
  those that ask about the store (provenance's unanswerable questions).
  """


def connection_config(target: str, writable: bool = False) -> Config:
  """A config for grpc://HOST:PORT, mysql://USER:PASS@HOST:PORT/DB or a SQLite file."""
  target = str(target)
  url = parse.urlparse(target)
  if url.scheme == 'grpc':
    if not url.hostname or not url.port:
      raise ValueError(f'{target}: expected grpc://HOST:PORT')
    return metadata_store_pb2.MetadataStoreClientConfig(host=url.hostname, port=url.port)
  config = metadata_store_pb2.ConnectionConfig()
  if url.scheme == 'mysql':
    config.mysql.host = url.hostname or 'localhost'
    config.mysql.port = url.port or 3306
    config.mysql.database = url.path.lstrip('/')
    config.mysql.user = parse.unquote(url.username or '')
    config.mysql.password = parse.unquote(url.password or '')
    return config
  path = url.path if url.scheme == 'sqlite' else target
  if url.scheme not in ('', 'sqlite') or not path:
    raise ValueError(f'{target}: expected grpc://HOST:PORT, mysql://... or a SQLite file path')
  if not os.path.exists(path):
    raise StoreNotFound(
        f'no metadata store at {path}: run the pipeline first '
        f'(local_runner.py --work-dir ...) or pass --metadata / --work-dir')
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE if writable else
      metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
  return config


def open_store(target: str, writable: bool = False) -> metadata_store.MetadataStore:
  """The store at `target` (see connection_config); StoreNotFound for a missing file."""
  return metadata_store.MetadataStore(connection_config(target, writable))


def create_sqlite_store(path: str) -> metadata_store.MetadataStore:
  """A SQLite store at `path`, created when missing: for what writes a store
  of its own from nothing (the KFP stand-in's metadata, tests' histories)."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = str(path)
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  return metadata_store.MetadataStore(config)


def is_local_file(target: str) -> bool:
  return parse.urlparse(str(target)).scheme in ('', 'sqlite')
