import sys
from adavipro.sweeps import plan_experiment, run_configs
runs = plan_experiment("stabilisers", "cpu", dict(datasets=["placement:digits"], seeds=[0, 1, 2]))
keep = {n: p for n, p in runs.items() if p["method"] in ("vp", "oracle") or
        all(x not in n for x in ("-norm-", "-on0", "-lm", "-tmin", "-warm", "-rho"))}
# interleave seeds so that each method gets seed 0 first
order = sorted(keep, key=lambda n: (keep[n]["seed"], list(keep).index(n)))
df = run_configs({n: keep[n] for n in order}, "outputs/stabilisers", jobs=2, progress=False)
print(df[["run", "status", "test_acc", "time_s", "error"]].to_string())
