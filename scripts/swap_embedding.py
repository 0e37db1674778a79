"""One checkpoint's policy with another's task embedding p(z|t): does a fine-tuned policy lose a
task by its own weights or by where its embedding moved? (docs/jaco_pretraining.md, "A
correction"). Writes an actor checkpoint (policy.safetensors) that `skill-embedding evaluate`
reads; its metadata keeps POLICY's and names EMBEDDING in `embedding_from`.

    python scripts/swap_embedding.py results/runs/jaco_pretrain_from_dagger_embedding_seed0 \\
        results/runs/jaco_pretrain_dagger_embedding --out runs/swap/policy.safetensors
    skill-embedding evaluate runs/swap/policy.safetensors --episodes 30 --out runs/swap
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

from skill_embedding_ros.agent.checkpoint import ACTOR_CHECKPOINT, save_actor_checkpoint
from skill_embedding_ros.agent.run_networks import load_networks


def _checkpoint(path: str) -> Path:
    """A run directory's actor checkpoint, or the file given."""
    p = Path(path)
    return p / ACTOR_CHECKPOINT if p.is_dir() else p


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("policy", help="checkpoint (or run directory) whose policy is kept")
    p.add_argument("embedding", help="checkpoint (or run directory) whose p(z|t) replaces it")
    p.add_argument("--out", required=True, help="the actor checkpoint to write")
    args = p.parse_args()
    try:
        nets, _, meta = load_networks(_checkpoint(args.policy))
        donor, _, _ = load_networks(_checkpoint(args.embedding))
        nets.embedding.load_state_dict(donor.embedding.state_dict())
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: embeddings of two shapes
        p.error(f"cannot swap the embedding: {err}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    learner = SimpleNamespace(nets=nets, updates=meta.get("updates", 0))
    save_actor_checkpoint(args.out, learner, {**meta, "embedding_from": args.embedding})
    print(f"wrote {args.out}: the policy of {args.policy}, p(z|t) of {args.embedding}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
