from adavipro.sweeps import plan_experiment, run_configs
seeds = [0, 1, 2]
alone = plan_experiment("stabilisers", "cpu", dict(datasets=["placement:digits"], seeds=seeds))
runs = {n: p for n, p in alone.items() if "-rho0.75-lam2" in n}                       # the target-rate loss alone
runs.update(plan_experiment("stabilisers", "cpu", dict(datasets=["placement:digits"], seeds=seeds, methods=["adavipro"],
                                                      mask_recipe="stable", target_rate=0.75, target_weight=2.0)))
import re
runs = {n: p for n, p in runs.items() if re.search(r"g0\.98-(stable-)?rho0\.75-lam2-e8-n130(-s\d)?$", n)}
order = sorted(runs, key=lambda n: (runs[n]["seed"], n))
for n in order: print(n)
df = run_configs({n: runs[n] for n in order}, "outputs/stabilisers", jobs=2, progress=False)
print(df[["run", "status", "test_acc", "time_s", "error"]].to_string())
