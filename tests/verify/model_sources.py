"""Source text of the small model files the CLI tests write and run (``Net``: a Linear(8, 4)
on ``x: f32[B, 8]``)."""

from __future__ import annotations

import textwrap

LINEAR_NET = textwrap.dedent("""
    from neurarust import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(x)
""")
