// Allure 3 report configuration: results are grouped by checklist section, then item.
import { defineConfig } from "allure";

// The run's reports directory (the project's own tests use a private one).
const reports = process.env.TICKSTOCK_REPORTS_DIR || "reports";

export default defineConfig({
  name: "TickStock Phase 3 acceptance",
  output: `${reports}/allure-report`,
  // History and trends carried between runs (reports/history/ also holds the sign-off's figures).
  historyPath: `${reports}/history/allure-history.jsonl`,
  historyLimit: 50,
  plugins: {
    awesome: {
      options: {
        reportName: "TickStock Phase 3 acceptance",
        groupBy: ["parentSuite", "suite"],
      },
    },
  },
});
