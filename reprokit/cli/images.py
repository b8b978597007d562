"""CLI commands for images on disk: `reprokit images list|prune` (registered on `reprokit images` by cli/main.py)."""
from __future__ import annotations

import json
import time
from collections import Counter
from typing import List, Optional

import typer

from reprokit._console import EngineOption, ProjectOption, err, out, use_options

MatchOption = typer.Option(None, "--match", help="only images whose tag, short id or environment/case name matches "
                           "this glob (repeatable); a budget then applies to them alone")


def register(images_app: typer.Typer) -> None:
    images_app.command("list")(images_list)
    images_app.command("prune")(images_prune)


def images_list(as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
                match: Optional[List[str]] = MatchOption, project: Optional[str] = ProjectOption,
                engine: Optional[str] = EngineOption):
    """List the images reprokit made: what each is for, its size, when it was last used, who needs it."""
    from reprokit.errors import ReprokitError
    from reprokit.image.retention import footprint, needed_images, stored_images
    from reprokit.contract.load import Project

    use_options(engine=engine, builds=False)

    images = stored_images(match=match or (), layers=True)
    try:
        needed, problem = needed_images(Project.at(project)), None
    except ReprokitError as error:
        needed, problem = {}, error
    needs = {image.id: [who for tag in (*image.tags, *image.foreign_tags) for who in needed.get(tag, ())]
             for image in images}
    if as_json:
        out.print_json(json.dumps({"images": [_image_json(image, needed_by=needs[image.id]) for image in images],
                                   "disk_bytes": footprint(images)}))
    else:
        _print_list(images, needs)
    if problem is not None:
        err.print(f"[yellow]warning:[/yellow] who needs each image is unknown: {problem}", soft_wrap=True)


def _print_list(images, needs) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from reprokit.image.retention import ago, footprint, size_text

    now = time.time()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("image", "kind", "for", "size", "last used"):
        table.add_column(header, no_wrap=True)
    table.add_column("needed by", min_width=8)
    for image in images:
        used = f"{ago(now - image.last_used)} ago" if image.last_used else f"? (built {ago(now - image.created)} ago)"
        who = needs[image.id]
        table.add_row(image.reference, image.kind.value, image.name or "-", size_text(image.size), used,
                      Text(", ".join(who[:2]) + (f" +{len(who) - 2}" if len(who) > 2 else ""), no_wrap=True,
                           overflow="ellipsis"))
    out.print(table)
    out.print(f"{len(images)} image(s) reprokit made, {size_text(footprint(images))} on disk "
              "(layers they share counted once)")


def images_prune(older_than: Optional[str] = typer.Option(None, "--older-than", help="remove images unused for "
                                                          "longer than this, e.g. 7d, 12h, 2w"),
                 keep_size: Optional[str] = typer.Option(None, "--keep-size", help="then remove the least recently "
                                                         "used until the images take at most this, e.g. 10g"),
                 include_base: bool = typer.Option(False, "--include-base", help="base images made by bootstrap "
                                                   "may go too, unless an environment is built on them"),
                 dry_run: bool = typer.Option(False, "--dry-run", help="print what would go; remove nothing"),
                 as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
                 match: Optional[List[str]] = MatchOption, project: Optional[str] = ProjectOption,
                 engine: Optional[str] = EngineOption):
    """Remove images the project does not need now: isolation hybrids and untagged images, images unused past
    an age, then the least recently used while over a size budget. Never an image reprokit did not make,
    nor one a container uses. Exits 1 when what must stay is still over the budget."""
    from reprokit.image.retention import needed_images, parse_age, parse_size, plan, prune, stored_images
    from reprokit.contract.load import Project

    use_options(engine=engine, builds=False)

    age = parse_age(older_than) if older_than is not None else None
    budget = parse_size(keep_size) if keep_size is not None else None
    needed = needed_images(Project.at(project))  # first: a project that does not load prunes nothing
    decided = plan(stored_images(match=match or (), layers=True), needed, older_than=age, keep_size=budget,
                   include_base=include_base)
    if not dry_run:
        prune(decided)
    if as_json:
        out.print_json(json.dumps(_plan_json(decided, dry_run=dry_run)))
    else:
        _print_plan(decided, dry_run=dry_run)
    raise typer.Exit(1 if decided.over_budget else 0)


def _print_plan(decided, *, dry_run: bool) -> None:
    from rich.markup import escape

    from reprokit.image.retention import size_text

    for decision in decided.removals:
        image = decision.image
        failure = decided.failures.get(image.id)
        verb = "kept" if failure else "would remove" if dry_run else "removed"
        out.print(escape(f"{verb} {image.reference} ({image.kind.value}, {size_text(image.size)}): "
                         f"{failure or decision.why}"), soft_wrap=True)
    kept = Counter(d.rule for d in decided.decisions if not d.remove)
    gone = len(decided.removals) - len(decided.failures)
    names = {"needed": "needed by the project", "base": "base images", "recent": "used recently enough",
             "tagged-elsewhere": "tagged by someone else too"}
    out.print(f"{gone} image(s) {'would be ' if dry_run else ''}removed, "
              f"{sum(kept.values()) + len(decided.failures)} kept"
              + (f" ({', '.join(f'{n} {names.get(r, r)}' for r, n in kept.most_common())})" if kept else ""))
    state = f"{size_text(decided.after)} (was {size_text(decided.before)})"
    if decided.keep_size is not None:
        state += f", budget {size_text(decided.keep_size)}"
    out.print(f"reprokit's images {'would take' if dry_run else 'take'} {state}")
    if decided.over_budget:
        err.print("[yellow]still over the budget:[/yellow] what is left is needed by the project, in use, a base "
                  "image or tagged by someone else (see `reprokit images list`)")


def _image_json(image, **extra) -> dict:
    return {"reference": image.reference, "id": image.id, "tags": list(image.tags), "kind": image.kind.value,
            "for": image.name, "size": image.size, "created": image.created, "last_used": image.last_used,
            **extra}


def _plan_json(decided, *, dry_run: bool) -> dict:
    entry = lambda d: _image_json(d.image, rule=d.rule, why=decided.failures.get(d.image.id, d.why))  # noqa: E731
    return {"dry_run": dry_run,
            "removed": [entry(d) for d in decided.removals if d.image.id not in decided.failures],
            "kept": [entry(d) for d in decided.decisions if not d.remove or d.image.id in decided.failures],
            "disk_bytes_before": decided.before, "disk_bytes_after": decided.after,
            "keep_size": decided.keep_size, "over_budget": decided.over_budget}
