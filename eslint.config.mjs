import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default tseslint.config(
    {
        ignores: [
            "lib/**",
            ".lanes/**",
            "node_modules/**",
            "coverage/**",
            "examples/**/node_modules/**",
            "test/fixtures/*.js",
            "scripts/*.js",
            "jest.config.js",
        ],
    },
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname } },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-require-imports": "off",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
        },
    },
    // Layering: the core knows nothing of ours; drivers never reach up into the provider, the
    // components or the CLI (those load drivers, never the other way round).
    {
        files: ["src/power/**/*.ts"],
        rules: {
            "no-restricted-imports": [
                "error",
                {
                    patterns: [
                        { regex: "^\\.\\./", message: "src/power is the platform-free core: it imports nothing of ours outside src/power" },
                        { regex: "^@pulumi/", message: "src/power has no Pulumi" },
                    ],
                },
            ],
        },
    },
    {
        files: ["src/drivers/**/*.ts"],
        rules: {
            "no-restricted-imports": [
                "error",
                {
                    patterns: [
                        {
                            regex: "(^|/)(providers|components|cli)(/|$)|^@pulumi/pulumi",
                            message: "drivers never import the provider, the components or the CLI (nor Pulumi)",
                        },
                    ],
                },
            ],
        },
    },
);
