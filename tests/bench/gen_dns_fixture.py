#!/usr/bin/env python3
"""gen_dns_fixture.py: the many-names fixture of bench_tunnel.sh's DNS measurement.

usage: gen_dns_fixture.py OUTDIR NSVC NSTS REPLICAS

Writes into OUTDIR:
  fixture.yaml  NSVC ordinary Services (s00000..) spread over 4 namespaces (bench-0..bench-3),
                all selecting one 1-replica Deployment `small` of their namespace; and NSTS
                StatefulSets hl0.. of REPLICAS pods each in namespace bench-hl, each behind its
                headless Service, so every pod has its own per-pod name.
  profile.yaml  one forward per Service (NSVC + NSTS forwards: a kubetund profile holds at most
                4096, src/profile.h, so per-pod names make up the rest of the names).
  names.txt     dnsperf input, one "NAME A" line per mapped name: every Service name
                (sNNNNN.bench-K.svc.cluster.local) and every per-pod name
                (hlJ-I.hlJ.bench-hl.svc.cluster.local): NSVC + NSTS * REPLICAS lines.
"""
import os
import sys

NAMESPACES = 4


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    out = sys.argv[1]
    nsvc, nsts, replicas = (int(a) for a in sys.argv[2:5])
    fx, prof, names = [], ["forwards:"], []
    for k in range(NAMESPACES):
        fx.append(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{k}\n")
        fx.append(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
            f"  name: small\n  namespace: bench-{k}\n"
            "spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: small\n"
            "  template:\n    metadata:\n      labels:\n        app: small\n"
            "    spec:\n      containers:\n        - name: c\n          image: nginx\n"
            "          ports:\n            - name: http\n              containerPort: 80\n")
    for i in range(nsvc):
        ns = f"bench-{i % NAMESPACES}"
        name = f"s{i:05d}"
        fx.append(
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            "spec:\n  selector:\n    app: small\n  ports:\n"
            "    - name: http\n      port: 80\n      targetPort: http\n")
        prof.append(f"  - target: svc/{name}\n    namespace: {ns}")
        names.append(f"{name}.{ns}.svc.cluster.local A")
    if nsts:
        fx.append("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-hl\n")
    for j in range(nsts):
        name = f"hl{j}"
        fx.append(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n"
            f"  name: {name}\n  namespace: bench-hl\n"
            f"spec:\n  serviceName: {name}\n  replicas: {replicas}\n"
            f"  selector:\n    matchLabels:\n      app: {name}\n"
            f"  template:\n    metadata:\n      labels:\n        app: {name}\n"
            "    spec:\n      containers:\n        - name: c\n          image: redis\n"
            "          ports:\n            - name: tcp\n              containerPort: 6379\n")
        fx.append(
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: bench-hl\n"
            f"spec:\n  clusterIP: None\n  selector:\n    app: {name}\n  ports:\n"
            "    - name: tcp\n      port: 6379\n      targetPort: tcp\n")
        prof.append(f"  - target: svc/{name}\n    namespace: bench-hl")
        for i in range(replicas):
            names.append(f"{name}-{i}.{name}.bench-hl.svc.cluster.local A")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fixture.yaml"), "w") as f:
        f.write("---\n".join(fx))
    with open(os.path.join(out, "profile.yaml"), "w") as f:
        f.write("\n".join(prof) + "\n")
    with open(os.path.join(out, "names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
