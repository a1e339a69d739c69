// Allure 3 report configuration: results are grouped by checklist section, then item.
import { defineConfig } from "allure";

export default defineConfig({
  name: "TickStock Phase 3 acceptance",
  output: "reports/allure-report",
  plugins: {
    awesome: {
      options: {
        reportName: "TickStock Phase 3 acceptance",
        groupBy: ["parentSuite", "suite"],
      },
    },
  },
});
