"""A shard's remembered membership agrees with hashing each meter id afresh."""

from __future__ import annotations

import numpy as np
import pytest

from detect.shard import Members, Shard


@pytest.mark.parametrize("shard", [Shard(0, 1), Shard(0, 3), Shard(1, 3), Shard(2, 3)])
def test_members_answer_as_the_hash_does_for_batches_of_new_repeated_and_odd_ids(shard):
    rng = np.random.default_rng(7)
    fleet = np.array([f"flat-{i:04d}" for i in range(600)] + ["*", None, "楼3-502"], dtype=object)
    members = Members(shard)
    for size in (0, 50, 400, 603, 603, 1_000):
        batch = rng.choice(fleet, size=size)  # repeats within a batch, and ids seen in earlier batches
        assert members.owns(batch).tolist() == shard.owns(batch).tolist()
    assert members.owns(fleet).tolist() == shard.owns(fleet).tolist()
    members.owns(fleet[::-1])
    assert len(members.ids) == (len(fleet) if shard.count > 1 else 0)  # each id remembered once
