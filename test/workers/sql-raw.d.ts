// Vite's `?raw` imports: tests read migrations/*.sql as text and apply them to the test D1.
declare module "*.sql?raw" {
  const text: string;
  export default text;
}
