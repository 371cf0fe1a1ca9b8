"""Translation between named domains without paired examples (CycleGAN, StarGAN).

A domain model turns an image of one domain into the same content in another: CycleGAN between
two domains with a generator each way, StarGAN among many with one generator told the target
domain. The domains have names (folders such as cat/dog/wild, CycleGAN's A and B, or attributes
of a table), and translating always says where to (`to`): a name, several attribute names, or
label vectors.

Every evaluation translates held-out images of each domain into every other one and measures,
per target domain: the share of translations a domain classifier trained on the real images
assigns to the target (`share_<domain>`), the L1 error of translating back (`rec_l1_<domain>`),
with `eval.digits` the share of digits read the same before and after (`digits_kept_<domain>`),
and the image metrics asked for against that domain's real images (`fid_<domain>`, …); their
means over the domains are `share`, `rec_l1`, `digits_kept`, `fid`, ….
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distributed import SINGLE, Group
from .errors import ConfigError, DataError
from .metrics.images import ImageMetrics, check_fake_count
from .metrics.paired import l1
from .recipe import Snapshot
from .translation import TranslationGAN, test_time

Target = str | Sequence[str] | Tensor


@dataclass
class Case:
    """One target domain of an evaluation: the held-out inputs sent there, their own labels and
    the labels asked for (float N×K)."""

    name: str
    index: int | None  # the target domain's index (None: multi-label, every image its own target)
    inputs: Tensor  # uint8
    source: Tensor
    wanted: Tensor


class DomainTranslationGAN(TranslationGAN):
    """Base of the models translating among the named `domains` (one per image, or several
    attributes at once when `multi_label`). Subclasses define `convert`."""

    def __init__(
        self, nets: Mapping[str, nn.Module], domains: Sequence[str], multi_label: bool = False, test_mode: str = "eval"
    ) -> None:
        super().__init__(nets, test_mode)
        if len(domains) < 2 and not multi_label:
            raise ConfigError(f"a domain translation model needs at least two domains, got {list(domains)}")
        self.domains = tuple(domains)
        self.multi_label = multi_label
        self.digits = False  # eval.digits: measure whether digits survive translation
        self._judge: Any = None
        self._domain_metrics: dict[str, ImageMetrics] = {}

    # ------------------------------------------------------------------ what subclasses define

    def convert(self, images: Tensor, wanted: Tensor, source: Tensor | None) -> Tensor:
        """The networks' translation of float `images` to the domains `wanted` (float N×K labels),
        from `source` labels when known; called under no_grad in test mode."""
        raise NotImplementedError

    def graph_obstacle(self) -> str | None:
        # the history pool (CycleGAN) and the label permutation (StarGAN) draw on the device and
        # never sync, but their capture has not been checked on a GPU yet
        return f"{type(self).__name__}'s training step has not been verified under CUDA graph capture"

    # ------------------------------------------------------------------ domains by name

    def labels(self, to: Target, n: int, device: torch.device | str = "cpu") -> Tensor:
        """Float n×K target labels from a domain name, several attribute names (multi-label: the
        attributes to set, the others cleared), or a label tensor (K or n×K)."""
        k = len(self.domains)
        if isinstance(to, Tensor):
            if to.dim() not in (1, 2) or to.shape[-1] != k or (to.dim() == 2 and len(to) != n):
                raise DataError(f"target labels have shape {tuple(to.shape)}; expected {k} or {n}×{k} (one value "
                                f"per domain: {', '.join(self.domains)})")  # fmt: skip
            return to.to(device=device, dtype=torch.float32).expand(n, k)
        names = [part.strip() for part in to.split(",")] if isinstance(to, str) else [str(part) for part in to]
        unknown = [name for name in names if name not in self.domains]
        if unknown or not names or (not self.multi_label and len(names) != 1):
            what = "one domain" if not self.multi_label else "attributes to set (comma-separated)"
            bad = f"{unknown[0]!r} is not one of its domains" if unknown else f"got {', '.join(names) or 'nothing'}"
            raise DataError(f"translating to {bad}: this run translates to {what} of {', '.join(self.domains)}")
        labels = torch.zeros(k, device=device)
        labels[[self.domains.index(name) for name in names]] = 1.0
        return labels.expand(n, k)

    @torch.no_grad()
    def translate(
        self,
        inputs: Tensor,
        seed: int | None = 0,
        batch_size: int = 16,
        to: Target | None = None,
        source: Tensor | None = None,
    ) -> Tensor:
        """Float outputs for float `inputs` sent to the domain(s) `to`, in chunks of `batch_size`,
        from the averaged generators in the model's test mode (the model is left untouched)."""
        if to is None:
            raise DataError(f"translating needs a target domain (to=…, --to): one of {', '.join(self.domains)}")
        wanted = self.labels(to, len(inputs), inputs.device)
        batch_size = self.chunk_size(batch_size)
        with contextlib.ExitStack() as stack:
            for name in self.generators:
                stack.enter_context(test_time(self.averaged(name), self.test_mode, seed))
            chunks = [
                self.convert(x, w, None if source is None else s)
                for x, w, s in zip(inputs.split(batch_size), wanted.split(batch_size),
                                   (source if source is not None else wanted).split(batch_size))
            ]  # fmt: skip
        return torch.cat(chunks)

    def describe_keys(self) -> str:
        return "images of named domains, as data.target = unpaired, domains or attributes gives them"

    # ------------------------------------------------------------------ evaluation

    def check_evaluation(self, target: Any, evaluation: Mapping[str, Any]) -> None:
        """Adopt eval.digits; the image metrics need enough translations into every domain."""
        self.digits = bool(evaluation.get("digits", False))
        if evaluation["metrics"]:
            for case in self.cases(target, evaluation["n_samples"], 0):
                check_fake_count(len(case.inputs), f"the held-out images translated to {case.name} (eval.n_samples "
                                 "capped by the images of the other domains)")  # fmt: skip

    def cases(self, target: Any, n: int, seed: int) -> list[Case]:
        """Up to `n` held-out inputs for every target domain, taken from the other domains in turn
        (multi-label: `n` inputs each sent to the labels of another input, a seeded permutation)."""
        images, labels = target.labelled_images(held_out=True)
        if self.multi_label:
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
            return [Case("attributes", None, images[:n], labels[:n], labels[order][:n])]
        ids = labels.argmax(1)
        cases = []
        for index, name in enumerate(self.domains):
            others = round_robin([(ids == k).nonzero().flatten() for k in range(len(self.domains)) if k != index], n)
            wanted = F.one_hot(torch.full((len(others),), index), len(self.domains)).float()
            cases.append(Case(name, index, images[others], labels[others], wanted))
        return cases

    def judge(self, target: Any) -> Any:
        """The domain classifier of the target's real images (trained, and cached, on first use)."""
        if self._judge is None:
            from .metrics.domains import domain_judge

            test = target.labelled_images(held_out=True) if target.has_held_out else None
            self._judge = domain_judge("domains", target.labelled_images(held_out=False), test, self.multi_label)
        return self._judge

    def snapshot(
        self, target: Any, n: int, seed: int, measure: bool = True, image_metrics: Any = None, group: Group = SINGLE
    ) -> Snapshot:
        """Held-out images of every domain translated into every other one (the same ones each
        time), with the measures of each target domain and their means."""
        device = next(self.parameters()).device
        fakes, inputs, measures, counts = [], [], {}, {}
        per_domain: dict[str, dict[str, float]] = {}
        for case in self.cases(target, n, seed):
            if not len(case.inputs):
                continue
            x = target.decode(case.inputs.to(device))
            fake = self.translate(x, seed, to=case.wanted.to(device))
            fakes.append(fake)
            inputs.append(x)
            counts[case.name] = len(x)
            if measure and group.main:
                per_domain[case.name] = self._measure(target, case, x, fake, seed, image_metrics)
        if per_domain:
            for name, values in per_domain.items():
                measures.update({f"{key}_{name}": value for key, value in values.items()})
            for key in next(iter(per_domain.values())):
                measures[key] = sum(values[key] for values in per_domain.values()) / len(per_domain)
        protocol: dict[str, Any] = {}
        if measures:
            split = "held-out" if target.has_held_out else "training (the data has no held-out split)"
            protocol = {"translations": counts, "split": split, "test_mode": self.test_mode, "seed": seed,
                        "judge": self.judge(target).protocol}  # fmt: skip
            if self.digits:
                protocol["digits"] = "gankit's MNIST LeNet on inputs and translations (dark-on-light inverted)"
            if image_metrics is not None:
                protocol["image_metrics"] = "each target domain's translations against its real images"
        real = target.sample(max(1, min(n, 64)), torch.Generator(device=device).manual_seed(seed))
        fake = torch.cat(fakes) if fakes else real[:0]
        return Snapshot(fake, torch.cat(inputs) if inputs else real[:0], real, measures, protocol)

    def _measure(self, target: Any, case: Case, x: Tensor, fake: Tensor, seed: int, image_metrics: Any
                 ) -> dict[str, float]:  # fmt: skip
        """The measures of one target domain's translations."""
        from .metrics.domains import digits_kept, target_share

        pictures = target.to_images(fake)
        probabilities = self.judge(target).probabilities(pictures.float() / 127.5 - 1)
        back = self.translate(fake, seed, to=case.source.to(x.device), source=case.wanted.to(x.device))
        values = {"share": target_share(probabilities, case.wanted, self.multi_label), "rec_l1": l1(back, x)}
        if self.digits:
            values["digits_kept"] = digits_kept(case.inputs, pictures.cpu())
        if image_metrics is not None:
            metrics = image_metrics
            if case.index is not None:  # against the target domain's own images
                if case.name not in self._domain_metrics:
                    real = target.domain_images(case.index, held_out=True)
                    self._domain_metrics[case.name] = ImageMetrics(
                        image_metrics.metrics, image_metrics.network, real, f"{image_metrics.name}-{case.name}", 0
                    )
                metrics = self._domain_metrics[case.name]
            values.update(metrics(pictures)[0])
        return values

    # ------------------------------------------------------------------ pictures

    def grid_cases(self, target: Any, rows: int) -> list[tuple[Tensor, Tensor]]:
        """`rows` held-out (uint8 image, label) pairs, the domains taken in turn."""
        images, labels = target.labelled_images(held_out=True)
        if self.multi_label:
            return list(zip(images[:rows], labels[:rows]))
        ids = labels.argmax(1)
        chosen = round_robin([(ids == k).nonzero().flatten() for k in range(len(self.domains))], rows)
        return [(images[i], labels[i]) for i in chosen.tolist()]


def round_robin(groups: list[Tensor], n: int) -> Tensor:
    """Up to `n` indices taken from the groups in turn (the first of each, then the second…), so
    that every group is represented however the indices are ordered."""
    depth = max((len(g) for g in groups), default=0)
    table = torch.full((depth, len(groups)), -1, dtype=torch.long)
    for column, group in enumerate(groups):
        table[: len(group), column] = group
    taken = table.flatten()
    return taken[taken >= 0][:n]
