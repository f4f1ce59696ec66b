"VP and the oracle on placement:digits, seeds 3 and 4 (the benchmark's validity over 5 seeds)."
from adavipro.sweeps import plan_experiment, run_configs
runs = plan_experiment("stabilisers", "cpu", dict(datasets=["placement:digits"], seeds=[3, 4], methods=["vp", "oracle"]))
df = run_configs(runs, "outputs/stabilisers", jobs=2, progress=False)
print(df[["run", "status", "test_acc", "time_s", "error"]].to_string())
