# The batch image for deploy/k8s/spark-batch.yaml: the Bento image (make image) plus Java 17 and pyspark.
# docker build -f deploy/k8s/spark.Dockerfile --build-arg BASE=<image>:<version> -t <image>-spark:<version> .
ARG BASE
FROM ${BASE}
USER root
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*
COPY requirements-spark.lock /tmp/requirements-spark.lock
RUN pip install --no-cache-dir -r /tmp/requirements-spark.lock
USER bentoml
