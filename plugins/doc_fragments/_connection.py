# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This doc fragment is PRIVATE and for internal use by flinkops.flink only.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Flink JobManager REST API, for example V(http://flink-jobmanager:8081).
      - A reverse proxy in front of Flink is fine; include its path prefix.
      - Credentials written into it (V(https://user:password@host)) are used for basic authentication and
        removed from every message and result; the password may hold any character. Prefer O(url_password).
      - Proxies named by E(HTTPS_PROXY) / E(HTTP_PROXY) are used, except for hosts in E(NO_PROXY) and for
        loopback addresses (V(localhost), V(127.0.0.0/8), V(::1)), which are always reached directly.
      - If not set, the environment variable E(FLINK_URL) is used.
    type: str
    required: true
  url_username:
    description:
      - User name for HTTP basic authentication, usually checked by a reverse proxy (Flink itself has no authentication).
      - If not set, the environment variable E(FLINK_USERNAME) is used.
      - Mutually exclusive with O(bearer_token).
    type: str
    aliases: [username]
  url_password:
    description:
      - Password for HTTP basic authentication (sent as UTF-8). Never logged or returned.
      - If not set, the environment variable E(FLINK_PASSWORD) is used.
    type: str
    aliases: [password]
  bearer_token:
    description:
      - Token sent in the C(Authorization) header as C(Bearer <token>). Never logged or returned.
      - Leading and trailing whitespace (a newline from a file) is removed. A token shorter than 8 characters
        or with characters outside Latin-1 is refused as a mistake.
      - If not set, the environment variable E(FLINK_TOKEN) is used.
    type: str
  headers:
    description:
      - Extra HTTP headers sent with every request, for example an API key a gateway expects.
      - Treated as secret, so never logged or returned. The value of a header whose name looks like a
        credential (containing C(auth), C(token), C(key), C(secret), C(passw), C(cookie), C(session),
        C(signature)) must be at least 8 characters long.
    type: dict
  validate_certs:
    description:
      - Whether to verify the TLS certificate of the REST endpoint.
      - Setting this to V(false) is insecure and makes the module warn.
      - If not set, the environment variable E(FLINK_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificates that signed the REST endpoint's certificate, or a directory of
        PEM files named by their subject hash (as C(openssl rehash) makes them).
      - If not set, the environment variable E(FLINK_CA_PATH) is used; without it the bundle named by
        E(REQUESTS_CA_BUNDLE), E(CURL_CA_BUNDLE) or E(SSL_CERT_FILE) (in that order, also for loopback
        addresses), else the CA bundle that C(requests) ships.
    type: path
  client_cert:
    description:
      - PEM client certificate for mutual TLS (Flink's C(security.ssl.rest.authentication-enabled)).
      - If not set, the environment variable E(FLINK_CLIENT_CERT) is used.
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert), if the certificate file does not contain it.
      - If not set, the environment variable E(FLINK_CLIENT_KEY) is used.
    type: path
  request_timeout:
    description:
      - Seconds to wait for the answer to one HTTP request, more than 0 and at most 3600.
      - This is not how long asynchronous operations may take; those have their own timeouts.
    type: float
    default: 30
  request_retries:
    description:
      - How often a request that failed on its way is repeated, with exponential backoff.
      - Only requests that read, or that never reached the server, are repeated; a
        request that changes something and may have arrived is never sent blindly again.
      - TLS failures and invalid local input are never repeated, as they fail the same way every time.
    type: int
    default: 3
  state_store:
    description:
      - Where the collection keeps what it remembers about each job (the spec each version ran, the job-id chain
        that fences duplicate submissions, deployment claims, the operation log, the savepoint a stop left,
        disposal marks).
      - Unset, these records live in the answering JobManager's JAR upload directory (C(web.upload.dir)). That
        needs no set-up and is right for one JobManager whose upload directory outlives it. On a cluster whose configuration
        shows high availability (a standby JobManager keeps its own upload directory, and a restarted one
        starts with an empty one) every run that would change something then fails, naming this option.
      - V(jobmanager) keeps the records there, declaring that the upload directory is durable and shared by
        every JobManager (for example one persistent volume mounted by all of them).
      - V(s3://bucket/prefix) uses S3-compatible object storage with conditional writes; query parameters
        C(endpoint) (for example V(s3://flink/flinkops?endpoint=http://minio:9000)), C(region) and
        C(addressing) (V(path) or V(virtual)). Credentials come from the standard AWS environment variables,
        profile or instance role, never from the URL. Needs C(boto3) where the module runs.
      - V(zookeeper://host:port[,host:port...]/chroot) uses ZooKeeper (for example the quorum Flink's own high
        availability uses, under its own chroot); V(user:password@) before the hosts enables digest
        authentication. A deployment's claim is an ephemeral node, freed by ZooKeeper as soon as the run that
        holds it dies. Needs C(kazoo) where the module runs.
      - V(postgresql://user:password@host:port/database) uses PostgreSQL (tables C(flinkops_records) and
        C(flinkops_heads), created when missing); libpq parameters such as C(sslmode) go in the query. Needs C(psycopg) 3 where the module
        runs.
      - Credentials written into the URL are removed from every message and result.
      - The first run of a job against a durable store imports that job's records from the JAR store, so the
        history of earlier releases is kept.
      - If not set, the environment variable E(FLINK_STATE_STORE) is used.
    type: str
requirements:
  - requests
  - boto3, kazoo or psycopg (3) for a durable O(state_store) of the matching kind
notes:
  - Everything goes through Flink's REST API; neither the Flink CLI nor access to the savepoint file system is needed.
"""
