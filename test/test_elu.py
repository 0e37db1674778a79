"""agent/elu.py computes the same function and gradient as torch's ELU, only through exp2."""

import math

import pytest
import torch

from skill_embedding_ros.agent.elu import ELU


def _grid(dtype):
    dense = torch.linspace(-30.0, 10.0, 400_001, dtype=dtype)
    tiny = torch.tensor([-1e-30, -1e-7, 0.0, 1e-7, 1e-30, -88.0, -104.0, -1e4], dtype=dtype)
    return torch.cat([dense, tiny])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_gradients_match_torch_elu_to_rounding(dtype):
    x = _grid(dtype).requires_grad_()
    ours, ref = ELU()(x), torch.nn.functional.elu(x)
    assert ours.dtype == dtype
    eps = torch.finfo(dtype).eps
    # |elu| <= 1 on the negative side: a couple of float eps absolute is rounding, nothing more.
    assert (ours - ref).abs().max().item() <= 2 * eps
    positive = x.detach() > 0
    assert torch.equal(ours[positive], x.detach()[positive])  # x itself, not x + 1 - 1
    grad = torch.randn_like(x)
    (g_ours,) = torch.autograd.grad(ours, x, grad)
    (g_ref,) = torch.autograd.grad(ref, x, grad)
    assert torch.allclose(g_ours, g_ref, rtol=4 * eps, atol=4 * eps * grad.abs().max().item())


def test_edge_values():
    x = torch.tensor([-math.inf, math.inf, math.nan, 0.0])
    y = ELU()(x)
    assert y[0] == -1.0 and y[1] == math.inf and math.isnan(y[2]) and y[3] == 0.0


def test_a_second_derivative_is_refused_not_silently_zero():
    x = torch.randn(5, requires_grad=True)
    (g,) = torch.autograd.grad(ELU()(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(g.sum(), x)
