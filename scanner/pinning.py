"""``driftscan pin``: rewrite image tags in manifests to ``repo:tag@sha256:…``.

The CLI calls :func:`run`. Every image without a digest in the manifests that
``sources.manifests`` reads (Deployment, StatefulSet, DaemonSet, Job, CronJob,
ReplicaSet, ReplicationController, PodTemplate, Rollout, Pod; init and ephemeral
containers and image volumes included; multi-document files) gets a digest from one of
two places:

* the **registry** (default): the tag's manifest ``HEAD`` through ``oci.resolver.Resolver``
  (docker ``config.json`` credentials, concurrent, cached per run). A multi-arch tag
  pins to its index digest, as containerd and k8s-digester do;
* the **cluster** (``--from-cluster``): the digest the live workload's pods run, only
  when every live pod of that container runs the same build of the same repository and
  tag; otherwise the workload is refused, naming the digests seen.

The edit is a text edit of the ``image`` scalar at its recorded position, in its
original quoting, so comments, key order, indentation and line endings stay as they
were. The edited text is parsed again and every image compared with what was intended
before anything is written. Any problem anywhere (an image that does not resolve, a
refused workload, a scalar that cannot be rewritten in place) writes nothing, and lists
every problem on a line of its own, by file and line. Files are replaced all or none:
every new text is written to a temporary file beside its target before any target is
renamed over, and a failure undoes what was done. A symlink is written through to the
file it names; mode, owner and hard links are kept; a file edited between reading and
writing is refused (nothing is written). A file that cannot be read (or only in part) is
never rewritten or printed: it is listed on stderr with what to do, the other files are
pinned, and the exit code is 3 (``--allow-gaps``: 0).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from scanner import errors, exits, graph, images, model
from scanner.oci import credentials, resolver
from scanner.sources import manifests

__all__ = [
    "Edit",
    "PinOptions",
    "apply_edits",
    "digests_from_cluster",
    "digests_from_registry",
    "pinned_image",
    "plan",
    "render_scalar",
    "run",
]

_Key = tuple[str, int]
"""(file name, character offset of the image scalar): one image field."""


@dataclass(frozen=True)
class PinOptions:
    """Everything ``driftscan pin`` accepts."""

    paths: tuple[str, ...]
    mode: str = "print"
    """``print`` (pinned manifests to stdout), ``diff`` or ``write``."""
    from_cluster: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    insecure_registries: tuple[str, ...] = ()
    request_timeout: float | None = None
    """``--request-timeout`` for ``--from-cluster`` (seconds; None: the live default)."""
    allow_gaps: bool = False
    """Exit 0 rather than 3 when some file could not be read."""


@dataclass(frozen=True)
class Edit:
    """One image scalar to replace."""

    field: manifests.ImageField
    workload: str
    new_image: str


def pinned_image(image: str, digest: str) -> str:
    """``image`` as written plus ``@digest``; an absent tag is written as ``:latest``.

    Raises:
        errors.InputError: ``image`` is not a reference, or already carries a digest.
    """
    ref = images.parse(image)
    if ref.digest is not None:
        raise errors.InputError(f"{image} is already pinned")
    if not images.try_parse(f"{image}@{digest}"):
        raise errors.InputError(f"{digest!r} is not a digest")
    if ref.tag is None:
        return f"{image}:{images.DEFAULT_TAG}@{digest}"
    return f"{image}@{digest}"


def render_scalar(value: str, style: str) -> str:
    """``value`` as a YAML scalar in ``style`` ("" plain, ``'`` or ``"``).

    Raises:
        errors.InputError: block scalars (``|``, ``>``) cannot be rewritten in place.
    """
    if style == "":
        return value
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise errors.InputError(f"cannot rewrite a {style} block scalar in place")


def _check_span(text: str, field: manifests.ImageField) -> str | None:
    """Why the recorded span cannot be replaced, or None when it is the plain value."""
    written = text[field.start:field.end]
    if field.end_line != field.line:
        return "the image scalar spans lines"
    if field.style not in ("", "'", '"'):
        return f"the image is a {field.style} block scalar"
    expected = render_scalar(field.image, field.style)
    if written != expected:
        return f"the image is written with escapes ({written})"
    return None


def plan(files: Sequence[manifests.ManifestFile], digests: Mapping[_Key, str],
         ) -> dict[str, list[Edit]]:
    """The edits per file: every unpinned image whose key has a digest.

    Raises:
        errors.InputError: an image cannot be rewritten in place (all are listed).
    """
    result: dict[str, list[Edit]] = {}
    problems: list[str] = []
    for file in files:
        edits: list[Edit] = []
        seen: set[int] = set()
        for obj in file.objects:
            for field in obj.images:
                if field.ref.is_pinned or field.start in seen:
                    continue  # pinned already, or one anchor merged into several containers
                seen.add(field.start)
                digest = digests.get((file.name, field.start))
                if digest is None:
                    continue
                why = _check_span(file.text, field)
                if why is not None:
                    problems.append(f"{file.name}:{field.line}: {why}; write the image on"
                                    " one line, plain or simply quoted")
                    continue
                edits.append(Edit(field, obj.label, pinned_image(field.image, digest)))
        result[file.name] = edits
    if problems:
        raise errors.InputError(_lines(f"{len(problems)} image(s) cannot be rewritten in"
                                       " place:", problems), hint="nothing was written")
    return result


def _lines(title: str, problems: Iterable[str]) -> str:
    """``title`` and one indented line per problem, sorted by file and line."""
    def key(problem: str) -> tuple[str, int, str]:
        file, _, rest = problem.partition(":")
        line, _, _ = rest.partition(":")
        return (file, int(line) if line.isdigit() else 0, problem)
    return "\n".join([title, *(f"  {p}" for p in sorted(set(problems), key=key))])


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with each edit's scalar replaced (edits must not overlap)."""
    ordered = sorted(edits, key=lambda e: e.field.start, reverse=True)
    for edit in ordered:
        field = edit.field
        text = text[:field.start] + render_scalar(edit.new_image, field.style) + text[field.end:]
    return text


def _verify(file: manifests.ManifestFile, new_text: str, edits: Sequence[Edit]) -> None:
    """Parse the edited text again; every image must be the intended one, in order."""
    wanted = {e.field.start: e.new_image for e in edits}
    [again] = manifests.load_texts([(file.name, file.path, new_text)])
    expected = [(o.label, f.path, wanted.get(f.start, f.image))
                for o in file.objects for f in o.images]
    after = [(o.label, f.path, f.image) for o in again.objects for f in o.images]
    if after != expected:
        raise errors.InputError(
            f"{file.name}: the rewritten file does not read back as intended; nothing was"
            " written",
            hint="report this with the file attached",
        )


# --- where digests come from --------------------------------------------------------------


def _unpinned(files: Sequence[manifests.ManifestFile],
              ) -> Iterable[tuple[manifests.ManifestFile, manifests.ManifestObject,
                                  manifests.ImageField]]:
    for file in files:
        for obj in file.objects:
            for field in obj.images:
                if not field.ref.is_pinned:
                    yield file, obj, field


def digests_from_registry(files: Sequence[manifests.ManifestFile], tag_resolver: resolver.Resolver,
                          ) -> dict[_Key, str]:
    """Resolve every unpinned image's tag (concurrently, once per distinct tag).

    Raises:
        errors.RegistryError: a tag did not resolve (every failure is listed).
    """
    wanted = list(_unpinned(files))
    keys = {(f.ref.registry, f.ref.repository, f.ref.effective_tag or images.DEFAULT_TAG)
            for _, _, f in wanted}
    results = tag_resolver.resolve_all(sorted(keys))
    digests: dict[_Key, str] = {}
    problems: list[str] = []
    hints: list[str] = []
    for file, _obj, field in wanted:
        key = (field.ref.registry, field.ref.repository,
               field.ref.effective_tag or images.DEFAULT_TAG)
        resolution = results[key]
        if resolution.ok and resolution.digest:
            digests[(file.name, field.start)] = resolution.digest
        else:
            problems.append(f"{file.name}:{field.line}: {field.image}: {resolution.message}")
            if resolution.hint and resolution.hint not in hints:
                hints.append(resolution.hint)
    if problems:
        raise errors.RegistryError(
            _lines(f"{len(problems)} image(s) did not resolve:", problems),
            hint="; ".join(hints[:3] + ["nothing was written"]),
        )
    return digests


def _snapshots(files: Sequence[manifests.ManifestFile], kubeconfig: str | None,
               context: str | None, request_timeout: float | None = None,
               ) -> tuple[str, list[model.Snapshot]]:
    from scanner.sources import loading

    explicit = sorted({o.namespace for f in files for o in f.objects if o.namespace})
    needs_default = any(not o.namespace for f in files for o in f.objects)
    snapshots: list[model.Snapshot] = []
    default = ""
    if needs_default:
        snap = loading.load(loading.LoadRequest(kubeconfig=kubeconfig, context=context,
                                                request_timeout=request_timeout))
        snapshots.append(snap)
        default = snap.source.namespaces[0] if snap.source.namespaces else "default"
    rest = tuple(ns for ns in explicit if ns != default)
    if rest:
        snapshots.append(loading.load(loading.LoadRequest(
            kubeconfig=kubeconfig, context=context, namespaces=rest,
            request_timeout=request_timeout)))
    gaps = [g for snap in snapshots for g in snap.gaps]
    if gaps:
        # A pod that could not be read might run another build: never pin from half a view.
        raise errors.InputError(
            f"the cluster could not be read completely ({len(gaps)} gap(s), first:"
            f" {gaps[0].kind}: {gaps[0].reason}); nothing was pinned",
            hint="grant get/list on the workloads' pods and revisions, or pin from the"
            " registry (drop --from-cluster)")
    return default, snapshots


def digests_from_cluster(files: Sequence[manifests.ManifestFile],
                         snapshots: Sequence[model.Snapshot], default_namespace: str,
                         ) -> dict[_Key, str]:
    """The digest each unpinned image runs as in the live workload the manifest describes.

    A container qualifies when every live pod of its workload reports one registry
    digest, of the manifest's repository, under the manifest's tag.

    Raises:
        errors.InputError: a workload is missing, has no digest to offer, runs another
            image, or its pods disagree (every refusal is listed with the digests seen).
    """
    graphs = [graph.build(s) for s in snapshots]
    digests: dict[_Key, str] = {}
    problems: list[str] = []
    for file, obj, field in _unpinned(files):
        ref = model.WorkloadRef(obj.kind, obj.namespace or default_namespace, obj.name)
        where = f"{file.name}:{field.line}: {ref} container {field.container}"
        g = next((g for g in graphs if ref in graph.workloads(g)), None)
        if g is None:
            problems.append(f"{where}: not found in the cluster")
            continue
        uses = [u for u in graph.digest_uses(g, ref, live_only=True)
                if u.container.name == field.container]
        comparable = [u for u in uses if u.image_id.comparable]
        if not comparable:
            problems.append(f"{where}: no live pod reports a registry digest")
            continue
        wanted = (field.ref.name, field.ref.effective_tag)
        other = sorted({u.container.image for u in comparable
                        if (p := images.try_parse(u.container.image)) is None
                        or (p.name, p.effective_tag or images.DEFAULT_TAG) != wanted})
        if other:
            problems.append(f"{where}: live pods run {', '.join(other)}, not {field.image}")
            continue
        repos = sorted({u.image_id.repository or "" for u in comparable} - {field.ref.name})
        if repos:
            problems.append(f"{where}: live pods report digests of {', '.join(repos)}, not"
                            f" {field.ref.name}")
            continue
        counts = Counter(u.image_id.key for u in comparable)
        if len(counts) > 1 or len(comparable) < len(uses):
            seen = ", ".join(f"{d} on {n} pod{'s' if n != 1 else ''}"
                             for d, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            unknown = len(uses) - len(comparable)
            if unknown:
                seen += f", {unknown} pod(s) without a registry digest"
            problems.append(f"{where}: pods disagree ({seen}); refusing to pick one")
            continue
        digests[(file.name, field.start)] = next(iter(counts))
    if problems:
        raise errors.InputError(
            _lines(f"cannot pin {len(problems)} image(s) from the cluster:", problems),
            hint="finish or roll back the rollout so every pod runs one build, or pin from"
            " the registry (drop --from-cluster); nothing was written",
        )
    return digests


# --- running -------------------------------------------------------------------------------


def run(options: PinOptions, stdout: Console, *, stdin_text: str | None = None,
        tag_resolver: resolver.Resolver | None = None) -> int:
    """Pin the manifests as ``options`` says; return the exit code.

    0 when every file was read (or ``allow_gaps``), 3 when some file could not be read:
    those are listed on stderr and left alone, the others are pinned.

    Raises:
        errors.DriftscanError: unreadable or unsafe input, an image that cannot be
            pinned, an unreachable cluster or registry, an unwritable file.
    """
    if options.mode not in ("print", "diff", "write"):
        raise errors.InputError(f"unknown mode {options.mode!r}")
    if options.mode == "write" and "-" in options.paths:
        raise errors.InputError("--write cannot rewrite stdin",
                                hint="drop --write to print the pinned manifests")
    loaded = manifests.load(options.paths, stdin_text=stdin_text)
    files = [f for f in loaded if not f.problems]
    unreadable = [p for f in loaded for p in f.problems]
    for problem in unreadable:
        print(f"not read, left unchanged: {problem.text()}", file=sys.stderr)
    if options.from_cluster:
        default, snapshots = _snapshots(files, options.kubeconfig, options.context,
                                        options.request_timeout)
        digests = digests_from_cluster(files, snapshots, default)
    else:
        if tag_resolver is None:
            docker_config = credentials.load_docker_config()
            for note in docker_config.notes:
                print(f"warning: {docker_config.source}: {note}", file=sys.stderr)
            tag_resolver = resolver.Resolver(docker_config=docker_config,
                                             insecure_hosts=options.insecure_registries)
        digests = digests_from_registry(files, tag_resolver)
    edits = plan(files, digests)
    new_texts: dict[str, str] = {}
    for file in files:
        new_text = apply_edits(file.text, edits[file.name])
        if edits[file.name]:
            _verify(file, new_text, edits[file.name])
        new_texts[file.name] = new_text
    if options.mode == "diff":
        _diff(files, new_texts, stdout)
    elif options.mode == "write":
        changed = [f for f in files if new_texts[f.name] != f.text]
        targets = []
        for file in changed:
            assert file.path is not None  # --write refuses stdin above
            targets.append((file.path, file.text, new_texts[file.name]))
        _replace_all(targets)
        count = sum(len(edits[f.name]) for f in changed)
        print(f"pinned {count} image(s) in {len(changed)} file(s)", file=sys.stderr)
    else:
        out = stdout.file
        for index, file in enumerate(files):
            text = new_texts[file.name]
            if index and not text.lstrip().startswith("---"):
                out.write("---\n")
            out.write(text if text.endswith("\n") or not text else text + "\n")
        out.flush()
    if unreadable:
        files_left = len({p.file for p in unreadable})
        print(f"warning: {files_left} file(s) could not be read and were not pinned"
              + ("" if options.allow_gaps else " (exit code 3; --allow-gaps accepts them)"),
              file=sys.stderr)
    return exits.for_result(fails=False, incomplete=bool(unreadable),
                            allow_gaps=options.allow_gaps)


def _diff(files: Sequence[manifests.ManifestFile], new_texts: Mapping[str, str],
          stdout: Console) -> None:
    out = stdout.file
    for file in files:
        new = new_texts[file.name]
        if new == file.text:
            continue
        out.writelines(difflib.unified_diff(
            file.text.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{file.name}", tofile=f"b/{file.name}"))
    out.flush()


def _replace_all(targets: Sequence[tuple[Path, str, str]]) -> None:
    """Rewrite every ``(path, old text, new text)`` or none of them.

    Each new text is first written to a temporary file beside its target (same folder,
    same mode); only when all are written are they renamed over the targets. A failure
    before the renames removes the temporary files and leaves every target as it was;
    a failed rename puts the old text back into the files already renamed.

    Raises:
        errors.InputError: a file could not be written; says what was left unchanged.
    """
    # A symlink is written through to its target, so the link stays and the file it
    # names is the one pinned.
    targets = [(path.resolve() if path.is_symlink() else path, old, new)
               for path, old, new in targets]
    prepared: list[tuple[Path, str, str]] = []  # (target, old text, temporary file)
    try:
        for path, old, new in targets:
            prepared.append((path, old, _prepare(path, new)))
        for path, old, _ in prepared:
            _check_unchanged(path, old)
    except BaseException as e:
        for _, _, tmp in prepared:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise errors.InputError(f"cannot write {path}: {e.strerror or e}; no file was"
                                    " changed") from e
        raise
    renamed: list[tuple[Path, str]] = []
    try:
        for path, old, tmp in prepared:
            _install(tmp, path)
            renamed.append((path, old))
    except BaseException as e:
        for _, _, tmp in prepared[len(renamed):]:
            Path(tmp).unlink(missing_ok=True)
        stuck = _restore(renamed)
        if not isinstance(e, OSError):
            raise
        left = ("no file was changed" if not stuck else
                "could not restore " + ", ".join(str(p) for p in stuck))
        raise errors.InputError(f"cannot write {path}: {e.strerror or e}; {left}") from e


def _prepare(path: Path, text: str) -> str:
    """Write ``text`` to a temporary file beside ``path`` with its mode and owner.

    Returns:
        The temporary file's name.
    """
    info = path.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".pin", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, info.st_mode & 0o7777)
        if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(PermissionError):  # _install then writes in place
                os.chown(tmp, info.st_uid, info.st_gid)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _check_unchanged(path: Path, old: str) -> None:
    """Refuse when ``path`` no longer holds the text it was pinned from.

    Raises:
        errors.InputError: someone edited the file since it was read; nothing is written.
    """
    try:
        current = path.read_bytes()
    except OSError as e:
        raise errors.InputError(f"cannot read {path} again: {e.strerror or e}; no file was"
                                " changed") from e
    if current != old.encode("utf-8"):
        raise errors.InputError(
            f"{path} changed since driftscan read it; no file was changed",
            hint="run `driftscan pin --write` again on the new content")


def _install(tmp: str, path: Path) -> None:
    """Put the prepared ``tmp`` in place of ``path``.

    A rename when it keeps what ``path`` is; otherwise (``path`` has other hard links,
    or its owner could not be given to ``tmp``) the text is copied into ``path`` itself,
    so every link sees the pin and the owner stays.
    """
    info = path.stat()
    made = os.stat(tmp)
    if info.st_nlink == 1 and (made.st_uid, made.st_gid) == (info.st_uid, info.st_gid):
        os.replace(tmp, path)
        return
    data = Path(tmp).read_bytes()
    with path.open("r+b") as handle:
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    Path(tmp).unlink(missing_ok=True)


def _restore(renamed: Sequence[tuple[Path, str]]) -> list[Path]:
    """Put the old text back into files already replaced; return those that failed."""
    stuck: list[Path] = []
    for path, old in renamed:
        try:
            tmp = _prepare(path, old)
            try:
                _install(tmp, path)
            except OSError:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            stuck.append(path)
    return stuck
