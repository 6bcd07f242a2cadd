{%- set image = "ghcr.io/" ~ (cookiecutter.github_owner | lower) ~ "/" ~ cookiecutter.project_slug -%}
# The batch image for deploy/k8s/spark-batch.yaml: the Bento image (make image) plus Java 17 and pyspark, built FROM
# the release's image by digest (`make image-pin VERSION=...` prints it), never by tag:
# docker build -f deploy/k8s/spark.Dockerfile --build-arg BASE={{ image }}@sha256:<digest> -t {{ image }}-spark:<version> .
# (The default below pulls nothing: a build that was not given BASE stops at FROM.)
ARG BASE={{ image }}@sha256:{{ "0" * 64 }}
FROM ${BASE}
USER root
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*
COPY requirements-spark.lock /tmp/requirements-spark.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements-spark.lock
USER bentoml
