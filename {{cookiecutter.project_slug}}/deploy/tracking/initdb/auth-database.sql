-- The basic-auth app keeps its users in a database of its own (MLFLOW_AUTH_DATABASE_URI).
CREATE DATABASE mlflow_auth OWNER mlflow;
