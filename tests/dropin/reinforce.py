"""REINFORCE on CartPole: a policy network, torch.distributions.Categorical, Adam.

Source: pytorch/examples, reinforcement_learning/reinforce.py.
Adaptations: gymnasium's CartPole-v1 is replaced by the same cart-pole equations written inline in
numpy (the environment is the data; a 200-step limit and a reward threshold of 30 keep it short),
and training stops after 5 episodes; the initial weights come from numpy through
load_state_dict. Actions are sampled with torch's RNG and the dropout masks are torch's, so the
rewards and losses are emitted as ``unseeded``.
"""

# The original's spelling is kept (super(Net, self), % and .format, late imports).
# ruff: noqa: UP008, UP031, UP032, E402, B007

import argparse
import math
from collections import deque
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from dropin_support import emit, numpy_state, rng, values
from torch.distributions import Categorical


class CartPole:
    """CartPole-v1's dynamics (gymnasium.envs.classic_control.cartpole), in numpy."""

    class spec:
        reward_threshold = 30.0

    def __init__(self, max_steps=200):
        self.max_steps, self.np_random = max_steps, np.random.default_rng(0)

    def reset(self, seed=None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.state, self.steps = self.np_random.uniform(-0.05, 0.05, size=4), 0
        return self.state.astype(np.float32), {}

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = 10.0 if action == 1 else -10.0
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + 0.05 * theta_dot**2 * sintheta) / 1.1
        thetaacc = (9.8 * sintheta - costheta * temp) / (
            0.5 * (4.0 / 3.0 - 0.1 * costheta**2 / 1.1)
        )
        xacc = temp - 0.05 * thetaacc * costheta / 1.1
        x, x_dot = x + 0.02 * x_dot, x_dot + 0.02 * xacc
        theta, theta_dot = theta + 0.02 * theta_dot, theta_dot + 0.02 * thetaacc
        self.state, self.steps = np.array([x, x_dot, theta, theta_dot]), self.steps + 1
        terminated = bool(abs(x) > 2.4 or abs(theta) > 12 * 2 * math.pi / 360)
        return self.state.astype(np.float32), 1.0, terminated, self.steps >= self.max_steps, {}


parser = argparse.ArgumentParser(description="PyTorch REINFORCE example")
parser.add_argument("--gamma", type=float, default=0.99, metavar="G")
parser.add_argument("--seed", type=int, default=543, metavar="N")
parser.add_argument("--render", action="store_true")
parser.add_argument("--log-interval", type=int, default=1, metavar="N")
args = parser.parse_args()

env = CartPole()
env.reset(seed=args.seed)
torch.manual_seed(args.seed)


class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)

        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy()
policy.load_state_dict(numpy_state(policy, rng(9)))
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = np.finfo(np.float32).eps.item()
logged = {"episode rewards": [], "running rewards": []}


def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    policy_loss = []
    returns = deque()
    for r in policy.rewards[::-1]:
        R = r + args.gamma * R
        returns.appendleft(R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]


def main():
    running_reward = 10
    for i_episode in count(1):
        state, _ = env.reset()
        ep_reward = 0
        for t in range(1, 10000):  # Don't infinite loop while learning
            action = select_action(state)
            state, reward, terminated, truncated, _ = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break

        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        finish_episode()
        logged["episode rewards"].append(ep_reward)
        logged["running rewards"].append(running_reward)
        if i_episode % args.log_interval == 0:
            print(
                f"Episode {i_episode}\tLast reward: {ep_reward:.2f}\tAverage reward: {running_reward:.2f}"
            )
        if running_reward > env.spec.reward_threshold or i_episode == 5:
            print(
                f"Solved! Running reward is now {running_reward} and the last episode runs to {t} time steps!"
            )
            break


if __name__ == "__main__":
    main()
    policy.eval()
    with torch.no_grad():
        probs = policy(torch.from_numpy(np.zeros((1, 4), dtype=np.float32)))
    emit({"eps": eps}, unseeded={**logged, "probs at the origin": values(probs)})
