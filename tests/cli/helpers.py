"""What the CLI tests share: invoking `aot` in-process, and the bad-input contract."""
from click.testing import CliRunner

from aot.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_bad_input(result, message):
    """Exit code 2 and one `Error:` line saying what is wrong, never a traceback."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output
