"""
`python -m infra.stages COMMAND STAGE`:

  stack     deploy infra/aws/stack.yaml for the stage (parameters from infra/stages/<stage>.toml;
            after `zappa deploy` it also wires the functions), then write the stage's Zappa
            settings (var/stages/<stage>/zappa_settings.json) and print the DNS records it needs
  settings  write the Zappa settings again from the deployed stack's outputs (a fresh checkout)
  dns       print the DNS records the stage needs
  check     check the stage's file (and its database connection budget) without calling AWS
"""

from __future__ import annotations

import argparse
import sys

from infra.stages import config as stage_config
from infra.stages import render, stack


def _print_dns(records) -> None:
    if records:
        print("DNS records this stage needs (create them wherever the domain's DNS lives):")
        for name, kind, value, why in records:
            print(f"  {name} {kind} {value}    # {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["stack", "settings", "dns", "check"])
    parser.add_argument("stage", help=f"one of {', '.join(stage_config.stages())} (infra/stages/<stage>.toml)")
    parser.add_argument("--poll", type=float, default=10, help="seconds between looks at the stack (default 10)")
    args = parser.parse_args(argv)
    try:
        config = stage_config.load(args.stage)
        if args.command == "check":
            budget = config.connection_budget()
            for name, count in budget:
                print(f"  {count:4}  {name}")
            print(f"  {sum(n for _, n in budget):4}  of {config.max_connections()} connections a {config.sizes.database_class} allows")
            print(f"{args.stage}.toml is fine.")
            return 0
        if args.command == "stack":
            result = stack.deploy(config, poll_seconds=args.poll)
            _print_dns(result.dns)
            if not result.functions_deployed:
                print("Next: the functions (zappa deploy), then this command again to wire them.")
            return 0
        outputs = stack.stack_outputs(config)
        if not outputs:
            print(f"There is no stack {config.stack_name} in {config.region}: run `python -m infra.stages stack {args.stage}`.",
                  file=sys.stderr)
            return 1
        if args.command == "settings":
            print(f"Wrote {render.shown(render.write(config, outputs))}.")
        else:
            _print_dns(stack.dns_records(config, outputs))
        return 0
    except (stage_config.StageConfigError, stack.StackError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
