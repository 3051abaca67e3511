# The image the Helm chart (deploy/helm/driftscan) runs: `driftscan watch` in the cluster.
#   docker build -t driftscan:0.1.0 .
# Two stages: the wheel is built with the build tools, the final image holds only the
# installed package and runs as an unprivileged user (the chart also makes its root
# filesystem read-only).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY scanner ./scanner
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /install /usr/local
RUN groupadd --system --gid 10001 driftscan \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin driftscan
USER 10001:10001
EXPOSE 9847
ENTRYPOINT ["driftscan"]
CMD ["watch", "--listen", "0.0.0.0:9847", "--all-namespaces"]
