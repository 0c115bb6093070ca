"""The test kit: worker calls run in-process as worker processes run them, and the pytest
plugin's fixtures, which run a user's tests in-process or against real workers."""

from __future__ import annotations

import os
import textwrap
from typing import Any

import pytest
import trio
import trio.testing

import slither_actors as sa
from slither_actors import worker
from tests.pool_helpers import TESTS, pool_settings
from tests.stores_for_tests import FeatureStore

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def worker_modules_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, ``worker_functions`` is imported here, as a worker imports it from tests/."""
    monkeypatch.syspath_prepend(str(TESTS))


def outcome_of(results: Any = None, error: BaseException | None = None) -> Any:
    """What a call gave, without where it ran: its results, or its error's kind and text."""
    if error is None:
        return results
    if isinstance(error, sa.WorkerError):
        return ("WorkerError", error.remote_type, error.remote_message)
    return (type(error).__name__, str(error))


async def outcome(pool: Any, target: Any, payloads: list[Any], **options: Any) -> Any:
    try:
        return outcome_of(await pool.call(target, payloads, **options))
    except (sa.WorkerError, sa.PayloadError, ValueError) as error:
        return outcome_of(error=error)


CALLS = [
    ("worker_functions:double", [1, 2, 3]),
    ("worker_functions:echo", [None, True, -(2**63), 1.5, "é", b"\x00", [1, (2, 3)], {"k": (4,)}]),
    ("worker_functions:fail", [1]),
    ("worker_functions:short", [1, 2]),
    ("worker_functions:not_a_list", [1, 2]),
    ("worker_functions:unencodable", [1, 2]),
    ("worker_functions:quit_worker", [3]),
    ("worker_functions:interrupt", [1]),
    ("worker_functions:nothing_here", [1]),
    ("no_such_module:function", [1]),
    ("worker_functions:echo", [object()]),
    ("worker_functions:echo", [2**64]),
    ("worker_functions", [1]),
    (sa.Tool("shout"), ["a", "b"]),
]


async def test_a_call_in_process_gives_what_a_worker_process_gives() -> None:
    settings = pool_settings(name="parity", size=1)
    in_process = sa.InProcessPool(settings)
    async with sa.open_pool(settings) as real:
        for target, payloads in CALLS:
            expected = await outcome(real, target, payloads)
            assert await outcome(in_process, target, payloads) == expected, target


QUESTIONS = [
    {"view": "tier_count", "params": {"tier": "gold"}},
    {"view": "lookup_feature", "params": {"key": "user:42"}},
    {"view": "whose_session"},
    {"view": "lookup_many", "params": {"items": [{"key": "user:7"}, {"key": "nobody"}]}},
    {"view": "broken", "params": {"key": 1}},
    {"view": "missing"},
]


async def test_store_views_answer_an_in_process_call_as_they_answer_a_worker() -> None:
    settings = sa.Settings(stores=("tests.stores_for_tests:FeatureStore",))
    async with sa.open_runtime(settings) as runtime:
        in_process = sa.InProcessPool(pool_settings(name="views"), runtime.views.resolve)
        async with sa.open_pool(pool_settings(name="views", size=1)) as real:
            real.set_view_resolver(runtime.views.resolve)
            with runtime.views.session("run-1", [runtime.store(FeatureStore)]):
                for question in QUESTIONS:
                    asked = ("worker_functions:ask", [question])
                    expected = await outcome(real, *asked, session_id="run-1")
                    assert await outcome(in_process, *asked, session_id="run-1") == expected
            outside = await outcome(in_process, "worker_functions:ask", [QUESTIONS[1]])
            assert outside == await outcome(real, "worker_functions:ask", [QUESTIONS[1]])
            assert outside[0]["error"] == "ViewNotFound"


async def test_the_worker_api_inside_an_in_process_call_is_a_worker_s() -> None:
    pool = sa.InProcessPool(pool_settings())
    (where,) = await pool.call("worker_functions:whoami", ["a"], session_id="s-1")
    assert (where["worker"], where["pid"], where["session"]) == (1, os.getpid(), "s-1")
    assert not worker.in_worker()  # only while a call runs
    assert [info.pid for info in pool.workers()] == [os.getpid()]


async def test_in_process_calls_run_one_at_a_time_as_in_one_worker() -> None:
    pool = sa.InProcessPool(sa.PoolSettings())
    answers: list[Any] = []

    async def call() -> None:
        answers.extend(await pool.call("in_process_functions:meet", [1]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        nursery.start_soon(call)
    assert answers == ["alone", "alone"]
    assert pool.workers()[0].calls_done == 2


async def test_a_call_past_its_timeout_fails_at_once_and_the_next_one_runs() -> None:
    pool = sa.InProcessPool(pool_settings())
    with pytest.raises(sa.CallTimeout, match=r"got no result within 0\.05s of starting to run"):
        await pool.call("worker_functions:sleep", [0.5], timeout=0.05)
    assert await pool.call("worker_functions:double", [4]) == [8]


async def test_a_call_that_waits_longer_than_its_queue_timeout_does_not_start() -> None:
    pool = sa.InProcessPool(pool_settings())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pool.call, "worker_functions:sleep", [0.3])
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(sa.CallTimeout, match=r"waited 0\.01s for a free worker"):
            await pool.call("worker_functions:double", [1], queue_timeout=0.01)


async def test_a_tool_nobody_registered_is_a_lookup_error_naming_it() -> None:
    pool = sa.InProcessPool(sa.PoolSettings())
    with pytest.raises(sa.WorkerError, match="raised LookupError: no tool named 'whisper'"):
        await pool.call(sa.Tool("whisper"), [1])


async def test_an_in_process_pool_checks_its_arguments_as_a_pool_does() -> None:
    pool = sa.InProcessPool(sa.PoolSettings())
    for bad in (
        lambda: pool.call("double", [1]),
        lambda: pool.call("worker_functions:double", "ab"),
        lambda: pool.call("worker_functions:double", [1], session_id=""),
        lambda: pool.call("worker_functions:double", [1], timeout=0),
    ):
        with pytest.raises(ValueError):
            await bad()


async def test_a_pool_call_in_process_is_a_pool_call_span() -> None:
    pool = sa.InProcessPool(pool_settings(name="spans"))
    with sa.telemetry.capture([("slither", "pool", "call", "stop")]) as seen:
        await pool.call("worker_functions:double", [1, 2], session_id="s")
    (stop,) = seen
    assert stop.metadata == {
        "pool": "spans",
        "target": "worker_functions:double",
        "size": 2,
        "session_id": "s",
        "worker_id": 1,
    }


async def test_broadcast_reaches_the_one_worker() -> None:
    pool = sa.InProcessPool(pool_settings())
    (reply,) = await pool.broadcast("worker_functions:double", 4)
    assert (reply.worker_id, reply.pid, reply.value, reply.error) == (1, os.getpid(), 8, None)
    (failed,) = await pool.broadcast("worker_functions:fail", 1)
    assert isinstance(failed.error, sa.WorkerError)


async def test_the_executor_dispatches_outside_a_runtime_with_default_pool_settings() -> None:
    executor = sa.InProcessExecutor("worker_functions", "double")
    assert executor.name == "worker_functions:double"
    results = await sa.dispatch([1, 2, 3], executor=executor, batch_size=2)
    assert [item.payload for item in results] == [2, 4, 6]
    ask = sa.InProcessExecutor("worker_functions", "ask")
    (answer,) = await sa.dispatch([{"view": "tier_count"}], executor=ask)
    assert answer.payload == {
        "error": "LookupError",
        "message": "view 'tier_count' failed: LookupError: no view named 'tier_count': "
        "no store views are registered",
    }


async def test_the_executor_in_a_runtime_uses_its_pool_settings_and_views() -> None:
    settings = sa.Settings(
        stores=("tests.stores_for_tests:FeatureStore",),
        pools=(sa.PoolSettings(name="pickling", allow_pickle=True, size=1),),
    )
    async with sa.open_runtime(settings):
        ask = sa.InProcessExecutor("worker_functions", "ask", pool="pickling")
        question = {"view": "tier_count", "params": {"tier": "gold"}}
        (answer,) = await sa.dispatch([question], executor=ask)
        assert answer.payload == 1
        pickled = sa.InProcessExecutor("worker_functions", "unencodable", pool="pickling")
        results = await sa.dispatch([1, 2], executor=pickled)
        assert [item.payload for item in results] == [1, {1, 2}]  # allow_pickle carries a set
        strict = sa.InProcessExecutor("worker_functions", "unencodable")
        with pytest.raises(sa.DispatchError, match="result 1 cannot travel"):
            await sa.dispatch([1, 2], executor=strict)


def test_the_executor_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="module must not be empty"):
        sa.InProcessExecutor("", "double")
    with pytest.raises(ValueError, match="pool must be a str"):
        sa.InProcessExecutor("m", "f", pool=None)  # type: ignore[arg-type]


# The plugin, as a user's suite meets it: run by pytester in a fresh pytest process.

WORK = '''
import os


def score(texts):
    """How long each text is, and which process measured it."""
    return [{"length": len(text), "pid": os.getpid()} for text in texts]
'''

PIPELINE = """
import slither_actors as sa


def clean(item, ctx):
    return item.payload.strip()


class Scoring(sa.Pipe):
    stages = [
        sa.LocalStage("clean", clean),
        sa.WorkerStage("score", module="work", function="score", batch_size=2),
    ]
"""

TESTS_OF_THE_PIPE = """
import os

import pytest
import trio
import trio.testing

import slither_actors as sa
from pipeline import Scoring


def ran_here(outputs):
    return {output["pid"] for output in outputs} == {os.getpid()}


async def test_run_pipe(slither_runtime, slither_workers):
    result = await sa.run_pipe(Scoring, [" ab ", "c"])
    outputs = [item.payload for item in result.outputs["default"]]
    assert [output["length"] for output in outputs] == [2, 1]
    assert ran_here(outputs) == (slither_workers == "in-process")


async def test_start_pipe(slither_runtime, slither_workers):
    outputs = []

    async def source():
        for text in ["a", "bb", "ccc"]:
            yield text

    async def sink(output, item):
        outputs.append(item.payload)

    service = await sa.start_pipe(Scoring, source(), sink)
    await service.wait()
    assert sorted(output["length"] for output in outputs) == [1, 2, 3]
    assert ran_here(outputs) == (slither_workers == "in-process")


async def test_runtime_pool(slither_runtime, slither_workers):
    pool = await slither_runtime.pool()
    (output,) = await pool.call("work:score", ["abcd"])
    assert (output["pid"] == os.getpid()) == (slither_workers == "in-process")
    assert isinstance(pool, sa.InProcessPool) == (slither_workers == "in-process")
"""


@pytest.fixture
def user_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: a worker module, a pipe whose worker stage names it, its tests."""
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(work=WORK, pipeline=PIPELINE, test_pipeline=TESTS_OF_THE_PIPE)
    return pytester


def test_a_user_s_pipe_runs_in_process_by_default(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest("-v")
    result.assert_outcomes(passed=3)


def test_a_switch_runs_the_same_tests_against_real_workers(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest("--slither-workers=real")
    result.assert_outcomes(passed=3)


def test_a_marker_runs_a_test_in_each_mode_or_in_the_one_it_names(
    user_suite: pytest.Pytester,
) -> None:
    user_suite.makepyfile(
        test_marked=textwrap.dedent(
            """
            import os

            import pytest

            import slither_actors as sa


            @pytest.mark.slither_workers("in-process", "real")
            async def test_both(slither_runtime, slither_workers):
                pool = await slither_runtime.pool()
                (output,) = await pool.call("work:score", ["x"])
                assert (output["pid"] == os.getpid()) == (slither_workers == "in-process")


            @pytest.mark.slither_workers("real")
            async def test_real_only(slither_workers):
                assert slither_workers == "real"
            """
        )
    )
    result = user_suite.runpytest("test_marked.py", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*test_both?in-process? PASSED*", "*test_both?real? PASSED*", "*test_real_only PASSED*"]
    )


def test_a_marker_naming_no_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.slither_workers("threads", "real")
        def test_one(slither_workers):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*slither_workers takes 'in-process' or 'real', not 'threads'*"])


def test_settings_come_from_a_marker_or_an_overridden_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def slither_settings(request):
            marker = request.node.get_closest_marker("slither_settings")
            return marker.args[0] if marker else {"dispatch": {"batch_size": 5}}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        async def test_suite_settings(slither_runtime):
            assert slither_runtime.settings.dispatch.batch_size == 5

        @pytest.mark.slither_settings({"pools": [{"name": "gpu", "size": 1}]})
        async def test_marker_settings(slither_runtime, slither_workers):
            pool = await slither_runtime.pool("gpu")
            assert pool.settings.size == 1
            assert slither_runtime.settings.pools[0].name == "gpu"
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    pytester.runpytest("--slither-workers=real").assert_outcomes(passed=2)


def test_a_pool_on_a_module_of_a_package_and_an_executor_in_each_mode(
    pytester: pytest.Pytester,
) -> None:
    # The package is in src/, which pytest puts on this process's sys.path; a worker
    # process finds it only through the PYTHONPATH slither_pool gives it.
    pytester.makeini("[pytest]\ntrio_mode = true\npythonpath = src\n")
    pytester.mkdir("src")
    package = pytester.mkpydir("src/myapp")
    (package / "model.py").write_text(
        "import os\n\ndef predict(xs):\n    return [[x * 10, os.getpid()] for x in xs]\n"
    )
    pytester.makepyfile(
        """
        import os

        import slither_actors as sa


        async def test_pool(slither_pool, slither_workers):
            pool = await slither_pool("myapp.model", size=1)
            assert pool.name == "myapp.model"
            (value, pid) = (await pool.call("myapp.model:predict", [2]))[0]
            assert value == 20 and (pid == os.getpid()) == (slither_workers == "in-process")


        async def test_executor(slither_executor, slither_telemetry, slither_workers):
            stops = slither_telemetry(("slither", "dispatch", "batch", "stop"))
            executor = slither_executor("myapp.model", "predict")
            kind = sa.InProcessExecutor if slither_workers == "in-process" else sa.WorkerExecutor
            assert isinstance(executor, kind)
            results = await sa.dispatch([1, 2, 3], executor=executor, batch_size=2)
            assert [item.payload[0] for item in results] == [10, 20, 30]
            assert len(stops) == 2
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    pytester.runpytest("--slither-workers=real", "-k", "test_pool").assert_outcomes(
        passed=1
    )


def test_a_session_without_pytest_trio_and_the_slither_fixtures_is_untouched(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from slither_actors import telemetry

        def test_plain():
            assert True

        def test_telemetry(slither_telemetry):
            seen = slither_telemetry(("my", "event"))
            telemetry.execute(("my", "event"), {"n": 1})
            assert [event.measurements for event in seen] == [{"n": 1}]
        """
    )
    result = pytester.runpytest("-p", "no:trio", "-W", "error")
    result.assert_outcomes(passed=2)
    listed = pytester.runpytest("--help")
    listed.stdout.fnmatch_lines(["*--slither-workers={in-process,real}*"])
