//! `sse-load noise --runs K`: K identical runs of each selected scenario, and the spread of every
//! KPI recorded as this host class's noise model beside the baselines.

use std::fmt::Write as _;

use super::config::RunConfig;
use super::progress::Progress;
use super::runs::{AppError, run_scenario};
use crate::baseline;
use crate::environment::Environment;
use crate::gate::noise::NoiseModel;
use crate::report::format::num;

/// Runs every scenario `config.repeat` times, writes the noise model, prints it.
///
/// # Errors
/// [`AppError`] when a scenario cannot run or the file cannot be written.
pub async fn run(config: &RunConfig) -> Result<(), AppError> {
    let environment = Environment::capture();
    let profile = config.profile.label(config.overrides);
    let dir = baseline::dir_for(&config.baselines_root, &config.target_name, profile)?;
    let progress = Progress::new(config.scenarios.len() as u64 * u64::from(config.repeat));
    let mut sets = Vec::new();
    for definition in &config.scenarios {
        match run_scenario(definition, config, &environment, &progress).await? {
            Ok(runs) => sets.push(runs),
            Err(reason) => progress.suspend(|| eprintln!("skipped {}: {reason}", definition.name)),
        }
    }
    progress.finish();
    let model = NoiseModel::measure(sets.iter().map(Vec::as_slice), &config.target_name, profile);
    let path = baseline::save_noise(&dir, &model)?;
    print!("{}", render(&model));
    println!("noise model written: {}", path.display());
    Ok(())
}

/// One line per scenario and KPI: runs, median, min–max and the relative standard deviation.
pub fn render(model: &NoiseModel) -> String {
    let mut out = format!(
        "noise of {} on {} ({} profile), host load {}:\n",
        model.target,
        model.host_class,
        model.profile,
        model.host_load_1m.map_or("unknown".into(), |l| format!("{l:.2}"))
    );
    for (scenario, kpis) in &model.scenarios {
        for (metric, k) in kpis {
            let _ = writeln!(
                out,
                "  {scenario:<22} {metric:<36} n={:<3} median {:>10}  range {}–{}  sd {:.1}%",
                k.runs,
                num(k.median),
                num(k.min),
                num(k.max),
                k.rel_sd_pct
            );
        }
    }
    out
}
